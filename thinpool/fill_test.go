package thinpool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

const (
	fillChunk = 64 << 10 // the pools' data block size (ChunkSectors 128)
	fillWrite = 1 << 20  // one writer IO
)

// modeWatch samples a pool's status until stopped and remembers every
// sample that was not a healthy rw pool: the fill tests' proof that the
// pool never reached out_of_data_space, read-only or needs_check.
type modeWatch struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	bad     []string
	samples int
}

func watchMode(ctx context.Context, p *Pool, every time.Duration) *modeWatch {
	w := &modeWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			// NoFlush: the watcher must not add metadata commits of its own.
			st, err := p.ctl.Status(ctx, p.DMName(), dm.StatusOptions{NoFlush: true})
			w.mu.Lock()
			w.samples++
			if err != nil {
				w.bad = append(w.bad, err.Error())
			} else if ps, err := dm.ParsePoolStatus(st[0].Params); err != nil {
				w.bad = append(w.bad, err.Error())
			} else if ps.Mode != dm.ModeRW || ps.NeedsCheck {
				w.bad = append(w.bad, ps.String())
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *modeWatch) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.bad) > 0 {
		t.Fatalf("the pool left rw mode in %d of %d samples, first: %s", len(w.bad), w.samples, w.bad[0])
	}
	t.Logf("pool stayed rw in %d status samples", w.samples)
}

// startMonitor runs p.Monitor until the returned stop function is called.
func startMonitor(p *Pool, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Monitor(ctx, interval)
	}()
	return func() { cancel(); <-done }
}

// pattern is the content of volume id's byte offset off: distinct per
// volume and per MiB, so a misplaced or lost write shows.
func pattern(id uint32, off int64, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		copy(b[i:], fmt.Sprintf("%02x%05x~", id%256, (off+int64(i))>>20&0xfffff))
	}
	return b
}

func mustSpace(t *testing.T, p *Pool) Space {
	t.Helper()
	s, err := p.Space(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFill is the space policy end to end: a writer fills volumes to
// several times the pool's initial size while the Monitor autoextends data
// (zero write errors, the pool never leaves rw); without room to grow,
// creates and snapshots are refused before the pool runs out; and a small
// metadata device autoextends under many thin devices.
func TestFill(t *testing.T) {
	t.Run("autoextend-data", testFillAutoextendData)
	t.Run("no-room-refuses-before-full", testFillNoRoom)
	t.Run("autoextend-metadata", testFillAutoextendMetadata)
	t.Run("periodic-check", testFillPeriodic)
}

// testFillPeriodic: with the low-water mark set at one block, no event
// comes before the pool is nearly full; the Monitor's periodic check alone
// grows a pool a writer left over the threshold.
func testFillPeriodic(t *testing.T) {
	e := newSpaceEnv(t)
	ctx := e.ctx
	const initial = 16 << 20
	p := e.pool(Config{Name: "periodic", LowWaterBlocks: 1}, 4<<20, initial, nil)
	if err := p.CreateThin(ctx, 1, 32<<20/dm.SectorSize); err != nil {
		t.Fatal(err)
	}
	d, err := p.OpenThin(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	before, err := p.ctl.Info(ctx, p.DMName())
	if err != nil {
		t.Fatal(err)
	}
	// The Monitor's first check finds an empty pool; only a later,
	// timer-driven check can see the writes.
	stopMon := startMonitor(p, 300*time.Millisecond)
	defer stopMon()
	time.Sleep(100 * time.Millisecond)
	const n = 13 << 20 // 81%: over the threshold, far from the low-water mark
	if _, err := d.WriteAt(pattern(1, 0, n), 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := mustSpace(t, p)
		if s.DataTotal > initial/fillChunk {
			t.Logf("periodic check grew data to %d blocks (%.1f%% used)", s.DataTotal, s.DataPercent)
			if s.DataPercent >= float64(p.cfg.Autoextend.ThresholdPercent) {
				t.Fatalf("grown, but still %.1f%% used", s.DataPercent)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("data at %.1f%% for 30s and the periodic check did not grow it", s.DataPercent)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopMon()
	// For the record: the pool raised no low-water event before the growth.
	after, err := p.ctl.Info(ctx, p.DMName())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pool events %d -> %d", before.EventNr, after.EventNr)
}

func testFillAutoextendData(t *testing.T) {
	e := newSpaceEnv(t)
	ctx := e.ctx
	const initial = 16 << 20
	// error_if_no_space: a single allocation the pool could not satisfy
	// fails its write at once instead of queueing, so "zero write errors"
	// really means the pool never ran out.
	p := e.pool(Config{Name: "fill", ErrorIfNoSpace: true}, 4<<20, initial, nil)
	const vols, volSize = 3, 24 << 20
	for id := uint32(1); id <= vols; id++ {
		if err := p.CreateThin(ctx, id, volSize/dm.SectorSize); err != nil {
			t.Fatal(err)
		}
	}
	devs := make([]dm.BlockDevice, vols)
	for i := range devs {
		d, err := p.OpenThin(ctx, uint32(i+1))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		devs[i] = d
	}
	// An hour between periodic checks: only the pool's low-water event can
	// wake the Monitor in time, so this is the event path under test.
	stopMon := startMonitor(p, time.Hour)
	defer stopMon()
	watch := watchMode(ctx, p, 25*time.Millisecond)

	// Round robin over the volumes, 1 MiB at a time, a flush every 8 MiB:
	// 72 MiB of data into a 16 MiB pool.
	var werrs []error
	start := time.Now()
	for off := int64(0); off < volSize; off += fillWrite {
		for i, d := range devs {
			if _, err := d.WriteAt(pattern(uint32(i+1), off, fillWrite), off); err != nil {
				werrs = append(werrs, fmt.Errorf("volume %d offset %d: %w", i+1, off, err))
			}
		}
		if off%(8<<20) == 0 {
			for i, d := range devs {
				if err := d.Flush(); err != nil {
					werrs = append(werrs, fmt.Errorf("flush volume %d: %w", i+1, err))
				}
			}
		}
	}
	elapsed := time.Since(start)
	for _, d := range devs {
		if err := d.Flush(); err != nil {
			werrs = append(werrs, err)
		}
	}
	watch.finish(t)
	stopMon()
	if len(werrs) > 0 {
		t.Fatalf("%d write errors with autoextend on, first: %v", len(werrs), werrs[0])
	}
	s := mustSpace(t, p)
	written := uint64(vols * volSize / fillChunk)
	t.Logf("wrote %d MiB in %v; pool now %d/%d data blocks (started with %d), meta %d/%d",
		vols*volSize>>20, elapsed.Round(time.Millisecond), s.DataUsed, s.DataTotal, initial/fillChunk, s.MetaUsed, s.MetaTotal)
	if s.DataUsed != written {
		t.Fatalf("pool has %d data blocks in use, the writer wrote %d distinct blocks", s.DataUsed, written)
	}
	if s.DataPercent >= float64(p.cfg.Autoextend.ThresholdPercent) {
		t.Fatalf("data %.1f%% is still at or over the %d%% threshold after the writer stopped", s.DataPercent, p.cfg.Autoextend.ThresholdPercent)
	}
	if s.Mode != dm.ModeRW || s.NeedsCheck {
		t.Fatalf("pool mode %s needs_check %v after the fill", s.Mode, s.NeedsCheck)
	}
	// The data survived the table reloads: read every volume back.
	got := make([]byte, fillWrite)
	for i, d := range devs {
		for off := int64(0); off < volSize; off += 7 * fillWrite {
			if _, err := d.ReadAt(got, off); err != nil {
				t.Fatalf("read volume %d at %d: %v", i+1, off, err)
			}
			if !bytes.Equal(got, pattern(uint32(i+1), off, fillWrite)) {
				t.Fatalf("volume %d at %d: data differs from what was written", i+1, off)
			}
		}
	}
}

func testFillNoRoom(t *testing.T) {
	e := newSpaceEnv(t)
	ctx := e.ctx
	const initial, limit = 16 << 20, 20 << 20
	var gr FileGrower
	p := e.pool(Config{Name: "full", ErrorIfNoSpace: true}, 4<<20, initial, func() Grower {
		gr = e.grower(limit)
		return gr
	})
	const volSize = 64 << 20
	if err := p.CreateThin(ctx, 1, volSize/dm.SectorSize); err != nil {
		t.Fatal(err)
	}
	d, err := p.OpenThin(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stopMon := startMonitor(p, 100*time.Millisecond)
	defer stopMon()

	// Write 256 KiB at a time; after each write try a create (and delete
	// it again) until the pool refuses.
	const step = 256 << 10
	next := uint32(100)
	var refusal error
	var atRefusal Space
	creates := 0
	off := int64(0)
	for ; off < volSize && refusal == nil; off += step {
		if _, err := d.WriteAt(pattern(1, off, step), off); err != nil {
			t.Fatalf("write at %d MiB before any refusal: %v (the reserve should have refused creates first)", off>>20, err)
		}
		if err := d.Flush(); err != nil {
			t.Fatal(err)
		}
		err := p.CreateThin(ctx, next, 1<<20)
		switch {
		case err == nil:
			creates++
			if err := p.Delete(ctx, next); err != nil {
				t.Fatal(err)
			}
			next++
		case errors.Is(err, ErrRefused):
			refusal = err
			atRefusal = mustSpace(t, p)
		default:
			t.Fatalf("create at %d MiB written: %v", off>>20, err)
		}
	}
	stopMon()
	if refusal == nil {
		t.Fatalf("wrote %d MiB into a pool limited to %d MiB and no create was refused", off>>20, limit>>20)
	}
	t.Logf("after %d creates and %d MiB written: %v", creates, off>>20, refusal)
	t.Logf("at refusal: data %d/%d (%.1f%%), meta %d/%d, mode %s", atRefusal.DataUsed, atRefusal.DataTotal, atRefusal.DataPercent,
		atRefusal.MetaUsed, atRefusal.MetaTotal, atRefusal.Mode)
	msg := refusal.Error()
	for _, want := range []string{"refused", "reserve", "extend the pool"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("refusal is not one line: %q", msg)
	}
	if creates == 0 {
		t.Fatalf("the very first create was refused: the reserve refuses too early")
	}
	switch {
	case atRefusal.Mode != dm.ModeRW || atRefusal.NeedsCheck:
		t.Fatalf("at the refusal the pool was already %s (needs_check %v): refused too late", atRefusal.Mode, atRefusal.NeedsCheck)
	case atRefusal.DataUsed >= atRefusal.DataTotal:
		t.Fatalf("at the refusal the pool was full")
	case atRefusal.DataPercent < 100-float64(p.cfg.Reserve.DataPercent):
		t.Fatalf("refused at %.1f%% used, before the %d%% reserve was reached", atRefusal.DataPercent, p.cfg.Reserve.DataPercent)
	}
	// Autoextend used the room there was before refusing.
	if sz, err := gr.Size(ctx, p.cfg.DataDev); err != nil || sz != limit {
		t.Fatalf("data device is %d bytes (%v), want grown to its %d-byte limit", sz, err, limit)
	}
	if atRefusal.DataTotal != limit/fillChunk {
		t.Fatalf("pool has %d data blocks, want %d after growing to the limit", atRefusal.DataTotal, limit/fillChunk)
	}
	// A snapshot is refused the same way, and neither refusal left an
	// intent behind or moved the transaction id.
	if err := p.Snapshot(ctx, next+1, 1); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "extend the pool") {
		t.Fatalf("snapshot with the pool under its reserve: %v", err)
	}
	st, err := p.rec.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := p.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != nil || st.TxnID != ps.TransactionID {
		t.Fatalf("after refusals: record txn %d pending %v, kernel txn %d", st.TxnID, st.Pending, ps.TransactionID)
	}
	// The refusal really came before the end: the volume can still take
	// the space that was left, and only then does the pool run out.
	var full error
	for ; off < volSize; off += fillChunk {
		if _, err := d.WriteAt(pattern(1, off, fillChunk), off); err != nil {
			full = err
			break
		}
	}
	if !errors.Is(full, dm.ErrNoSpace) {
		t.Fatalf("writing on after the refusal: %v, want the pool to run out of data space (ENOSPC)", full)
	}
	s := mustSpace(t, p)
	t.Logf("after writing on: data %d/%d, mode %s", s.DataUsed, s.DataTotal, s.Mode)
	if s.DataUsed <= atRefusal.DataUsed {
		t.Fatalf("no block was left when creates were refused (%d used then, %d now)", atRefusal.DataUsed, s.DataUsed)
	}
}

func testFillAutoextendMetadata(t *testing.T) {
	e := newSpaceEnv(t)
	ctx := e.ctx
	const metaInitial = 2 << 20
	p := e.pool(Config{Name: "meta"}, metaInitial, 64<<20, nil)
	stopMon := startMonitor(p, 100*time.Millisecond)
	defer stopMon()
	watch := watchMode(ctx, p, 50*time.Millisecond)
	s0 := mustSpace(t, p)
	// Every thin device costs the kernel at least a btree root block:
	// create until the metadata device has grown twice over its start.
	var id uint32
	var grows int
	last := s0.MetaTotal
	for id = 1; id <= 2000 && grows < 2; id++ {
		if err := p.CreateThin(ctx, id, 1<<20); err != nil {
			t.Fatalf("create thin %d with metadata at %d/%d: %v", id, mustSpace(t, p).MetaUsed, mustSpace(t, p).MetaTotal, err)
		}
		if id%50 == 0 {
			if s := mustSpace(t, p); s.MetaTotal > last {
				grows++
				last = s.MetaTotal
			}
		}
	}
	watch.finish(t)
	stopMon()
	s := mustSpace(t, p)
	t.Logf("%d thin devices: metadata %d/%d blocks (started %d/%d), %d growths seen", id-1, s.MetaUsed, s.MetaTotal, s0.MetaUsed, s0.MetaTotal, grows)
	if grows < 2 {
		t.Fatalf("metadata did not autoextend twice in %d creates", id-1)
	}
	if s.Mode != dm.ModeRW || s.NeedsCheck {
		t.Fatalf("pool mode %s needs_check %v", s.Mode, s.NeedsCheck)
	}
	if s.MetaPercent >= float64(p.cfg.Autoextend.ThresholdPercent)+5 {
		t.Fatalf("metadata %.1f%% used, over the threshold", s.MetaPercent)
	}
	st, err := p.rec.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Thins) != int(id-1) {
		t.Fatalf("record has %d thins, want %d", len(st.Thins), id-1)
	}
}
