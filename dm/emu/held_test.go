package emu

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

// TestHeldViewSkipsEmptyDevices: the in-memory held view leaves out devices
// that map nothing; mapping into such a device, deleting mapped ones and
// snapshotting after the reserve must keep every reference count right,
// before and after a reopen, and the held checkpoint must still list the
// empty devices.
func TestHeldViewSkipsEmptyDevices(t *testing.T) {
	r := newStoreRig(t, 4<<20)
	for id := range uint32(6) {
		if err := r.m.createThin(id); err != nil {
			t.Fatal(err)
		}
	}
	for vb := range uint64(300) {
		b, err := r.m.alloc()
		if err != nil {
			t.Fatal(err)
		}
		r.m.setMapping(r.m.devs[1], vb, b, r.m.time)
	}
	r.commit()
	if err := r.s.checkpoint(r.m, true); err != nil {
		t.Fatal(err)
	}
	r.m.heldRoot = r.s.sb.held
	r.m.pinHeld()
	held := encodeState(r.m)
	if len(r.m.held) != 1 {
		t.Fatalf("held view has %d devices, want the 1 that maps blocks", len(r.m.held))
	}
	// After the reserve: map into an empty device, snapshot it, delete the
	// mapped one.
	for vb := range uint64(200) {
		b, err := r.m.alloc()
		if err != nil {
			t.Fatal(err)
		}
		r.m.setMapping(r.m.devs[2], vb, b, r.m.time)
	}
	if err := r.m.createSnap(7, 2); err != nil {
		t.Fatal(err)
	}
	if err := r.m.deleteThin(1); err != nil {
		t.Fatal(err)
	}
	r.commit()
	if err := r.m.check(); err != nil {
		t.Fatal(err)
	}
	r.reopen() // checks the adopted held view
	hs, hm, err := openStore(r.path, true, true)
	if err != nil {
		t.Fatal(err)
	}
	hs.close()
	if got := encodeState(hm); !bytes.Equal(got, held) || len(hm.devs) != 6 {
		t.Fatalf("held checkpoint differs from the state at the reserve (%d devices)", len(hm.devs))
	}
	if err := r.s.releaseHeld(); err != nil {
		t.Fatal(err)
	}
	r.m.heldRoot = 0
	r.m.unpinHeld()
	if err := r.m.check(); err != nil {
		t.Fatal(err)
	}
	if r.m.refs[0] != 0 {
		t.Fatalf("data block 0 (the deleted device's) still has %d references after the release", r.m.refs[0])
	}
}

// usedExactly checks that the store's used blocks are the superblocks, the
// checkpoint, the journal and the held root, no more (a leak) and no less.
func usedExactly(t *testing.T, s *store) {
	t.Helper()
	want := map[uint64]bool{0: true, 1: true}
	for _, set := range [][]uint64{s.ckptBlks, s.jBlks, s.heldBlks} {
		for _, b := range set {
			want[b] = true
		}
	}
	for b := uint64(0); b < s.nblocks; b++ {
		if s.isUsed(b) != want[b] {
			t.Fatalf("block %d: used %v, referenced %v", b, s.isUsed(b), want[b])
		}
	}
}

// reserve is what the reserve_metadata_snap handler does after its commit.
func (r *storeRig) reserve(pinJournal bool) {
	r.t.Helper()
	var err error
	if pinJournal {
		err = r.s.holdCurrent()
	} else {
		err = r.s.checkpoint(r.m, true)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.m.heldRoot = r.s.sb.held
	r.m.pinHeld()
}

// heldState is the encoded held root as a reader of the file sees it.
func (r *storeRig) heldState() []byte {
	r.t.Helper()
	hs, hm, err := openStore(r.path, true, true)
	if err != nil {
		r.t.Fatal(err)
	}
	defer hs.close()
	return encodeState(hm)
}

// TestHeldJournalPrefix holds the committed state as the current checkpoint
// plus its journal (or, the fallback, as a checkpoint of its own) and then
// drives the live state through background and foreground compactions and
// reopens: the held root must read as the state at the reserve throughout,
// its blocks must stay allocated, and the release must free exactly them.
func TestHeldJournalPrefix(t *testing.T) {
	cases := []struct {
		name           string
		pin, midEncode bool
	}{
		{"journal", true, false},
		{"checkpoint", false, false},
		{"journal while a checkpoint is encoded", true, true},
	}
	for _, c := range cases {
		pin := c.pin
		t.Run(c.name, func(t *testing.T) {
			r := newStoreRig(t, 4<<20)
			for i := 0; i < 30 || (c.midEncode && r.s.bg == nil); i++ {
				r.change()
				r.commit()
			}
			r.reserve(pin)
			want := encodeState(r.m)
			// The rig's first commit and these 30.
			if pin && !c.midEncode && r.s.sb.hjend-r.s.sb.hjseq != 31 {
				t.Fatalf("held %d journal records, want 31", r.s.sb.hjend-r.s.sb.hjseq)
			}
			if c.midEncode && r.s.bg == nil {
				t.Fatal("the encoding ended before the reserve")
			}
			if got := r.heldState(); !bytes.Equal(got, want) {
				t.Fatal("held root differs from the state at the reserve")
			}
			installs, foreground := 0, 0
			for i := 0; i < 1500; i++ {
				epoch, ckpt := r.s.sb.epoch, r.s.sb.ckpt
				r.change()
				r.commit()
				// Right after the reserve the held blocks are the live
				// checkpoint and journal that a foreground checkpoint frees.
				if i == 5 || i == 1000 {
					if err := r.s.checkpoint(r.m, false); err != nil {
						t.Fatal(err)
					}
					usedExactly(t, r.s)
				}
				switch {
				case r.s.sb.epoch != epoch:
					foreground++
				case r.s.sb.ckpt != ckpt:
					installs++
				}
				if i%97 == 0 {
					usedExactly(t, r.s)
					live := encodeState(r.m)
					r.reopen()
					if got := encodeState(r.m); !bytes.Equal(got, live) {
						t.Fatalf("commit %d: live state differs after reopen", i)
					}
					if got := r.heldState(); !bytes.Equal(got, want) {
						t.Fatalf("commit %d: held root differs from the state at the reserve", i)
					}
				}
			}
			if installs == 0 || foreground == 0 {
				t.Fatalf("%d background and %d foreground checkpoints, want both", installs, foreground)
			}
			usedExactly(t, r.s)
			if err := r.s.releaseHeld(); err != nil {
				t.Fatal(err)
			}
			r.m.heldRoot = 0
			r.m.unpinHeld()
			usedExactly(t, r.s)
			if err := r.m.check(); err != nil {
				t.Fatal(err)
			}
			r.reopen()
			if _, _, err := openStore(r.path, true, true); err == nil {
				t.Fatal("held root readable after the release")
			}
		})
	}
}

// TestHeldKillPoints: a crash before the reserve's superblock write leaves
// no held root; a crash in any durable step of a background checkpoint
// installed while a journal prefix is held leaves the held root intact.
func TestHeldKillPoints(t *testing.T) {
	t.Run("hold-superblock", func(t *testing.T) {
		r := newStoreRig(t, 4<<20)
		for i := 0; i < 10; i++ {
			r.change()
			r.commit()
		}
		r.s.failAt = func(step string) error {
			if step == "hold-superblock" {
				return errKilled
			}
			return nil
		}
		if err := r.s.holdCurrent(); !errors.Is(err, errKilled) {
			t.Fatalf("holdCurrent: %v, want the failpoint", err)
		}
		r.reopen()
		if r.s.sb.held != 0 || r.m.heldRoot != 0 {
			t.Fatal("held root after a crash before its superblock write")
		}
		usedExactly(t, r.s)
	})
	for _, step := range []string{"bg-checkpoint-written", "bg-journal-synced", "bg-superblock-synced"} {
		t.Run(step, func(t *testing.T) {
			r := newStoreRig(t, 4<<20)
			for i := 0; i < 10; i++ {
				r.change()
				r.commit()
			}
			r.reserve(true)
			want := encodeState(r.m)
			r.untilEncoded()
			r.change()
			r.s.failAt = func(s string) error {
				if s == step {
					return errKilled
				}
				return nil
			}
			if err := r.s.commit(r.m); !errors.Is(err, errKilled) {
				t.Fatalf("commit: %v, want the failpoint", err)
			}
			r.reopen()
			if got := r.heldState(); !bytes.Equal(got, want) {
				t.Fatal("held root differs after the crash")
			}
			usedExactly(t, r.s)
			r.untilEncoded()
			r.change()
			r.commit()
			usedExactly(t, r.s)
			if got := r.heldState(); !bytes.Equal(got, want) {
				t.Fatal("held root differs after the next compaction")
			}
		})
	}
}

// TestHeldPrefixVersion: a superblock is labelled version 3 only while a
// held journal prefix needs it, so that version 2 engines still open every
// other file and refuse the ones they would damage.
func TestHeldPrefixVersion(t *testing.T) {
	r := newStoreRig(t, 4<<20)
	r.change()
	r.commit()
	version := func() uint32 {
		b := make([]byte, blockSize)
		if _, err := r.s.f.ReadAt(b, int64(r.s.sb.loc)*blockSize); err != nil {
			t.Fatal(err)
		}
		return binary.LittleEndian.Uint32(b[12:])
	}
	if err := r.s.checkpoint(r.m, false); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != 2 {
		t.Fatalf("no held root: version %d, want 2", v)
	}
	r.change()
	r.commit()
	r.reserve(true)
	if v := version(); v != 3 {
		t.Fatalf("held journal prefix: version %d, want 3", v)
	}
	if err := r.s.releaseHeld(); err != nil {
		t.Fatal(err)
	}
	r.m.heldRoot = 0
	r.m.unpinHeld()
	if v := version(); v != 2 {
		t.Fatalf("released: version %d, want 2", v)
	}
}

// TestHeldDumpConcurrent reads the held root of an active pool (without the
// pool's lock) while writes and flushes commit and compact and other
// goroutines release and reserve it: every dump must be a complete held
// view (run with -race for the locking).
func TestHeldDumpConcurrent(t *testing.T) {
	tp := newTestPool(t, 2<<20, 128, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	t0 := tp.thin("t0", 0, 128*testBlock)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(2)
	go func() { // writer: every flush commits
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := t0.WriteAt(fill(512, byte(i%250+1)), int64(i*7%128)*testBlock); err != nil {
				errs <- err
				return
			}
			if err := t0.Flush(); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // reserve and release
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := tp.e.Message(ctx, "pool", 0, "reserve_metadata_snap"); err != nil {
				errs <- err
				return
			}
			if _, err := tp.e.Message(ctx, "pool", 0, "release_metadata_snap"); err != nil {
				errs <- err
				return
			}
		}
	}()
	p := tp.e.pools[tp.meta]
	p.mu.RLock()
	epoch0 := p.st.sb.epoch
	p.mu.RUnlock()
	compacted := func() bool {
		p.mu.RLock()
		defer p.mu.RUnlock()
		return p.st.sb.jseq != 1 || p.st.sb.epoch != epoch0
	}
	dumps := 0
	for i := 0; i < 100000 && (dumps < 100 || !compacted()); i++ {
		d, err := tp.e.DumpPool("pool", true)
		if errors.Is(err, dm.ErrNoMetadataSnap) {
			continue
		}
		if err != nil {
			t.Fatalf("dump %d: %v", i, err)
		}
		if len(d.Devices) != 1 || d.Devices[0].ID != 0 {
			t.Fatalf("dump %d: held view %+v", i, d.Devices)
		}
		dumps++
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if dumps == 0 {
		t.Fatal("no dump found a held root")
	}
	if !compacted() {
		t.Fatal("the journal was never compacted during the dumps")
	}
	tp.checkMeta()
}

// TestReleaseWaitsForHeldReaders: release_metadata_snap frees the held
// blocks, so it must wait for a reader that reads them without the pool's
// lock. (The wait below can only let a broken release go unnoticed, never
// fail a correct one.)
func TestReleaseWaitsForHeldReaders(t *testing.T) {
	tp := newTestPool(t, 4<<20, 64, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	tp.msg("reserve_metadata_snap")
	p := tp.e.pools[tp.meta]
	p.heldRead.RLock() // a reader in the middle of dumpHeld
	done := make(chan error, 1)
	go func() {
		_, err := tp.e.Message(context.Background(), "pool", 0, "release_metadata_snap")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("release completed while a reader held the root (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.heldRead.RUnlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := tp.e.DumpPool("pool", true); !errors.Is(err, dm.ErrNoMetadataSnap) {
		t.Fatalf("dump after release: %v", err)
	}
}
