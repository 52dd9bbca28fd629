package kernel

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

func TestVMVersion(t *testing.T) {
	c := newControl(t)
	v, err := c.Version(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if v.Interface[0] != 4 {
		t.Errorf("interface %v, want major 4", v.Interface)
	}
	have := map[string]bool{}
	for _, tg := range v.Targets {
		have[tg.Name] = true
	}
	for _, n := range []string{dm.TargetThinPool, dm.TargetThin, dm.TargetLinear} {
		if !have[n] {
			t.Errorf("target %s not registered: %+v", n, v.Targets)
		}
	}
	t.Logf("dm interface %d.%d.%d, %d targets", v.Interface[0], v.Interface[1], v.Interface[2], len(v.Targets))
}

func TestVMPoolThinSnapshotIO(t *testing.T) {
	c := newControl(t)
	ctx := ctxT(t)
	p := newPool(t, c, 256<<20, 0, dm.PoolFeatures{})
	st := p.status(t)
	if st.TransactionID != 0 || st.Mode != dm.ModeRW || st.UsedDataBlocks != 0 || st.TotalDataBlocks != uint64(p.dataBytes/p.blockBytes) || st.HasHeldRoot {
		t.Fatalf("fresh pool status %+v", st)
	}
	raw, _ := c.Status(ctx, p.name, dm.StatusOptions{})
	if want := st.String(); raw[0].Params != want {
		t.Errorf("status params %q, formatter gives %q (kernel text must be returned untrimmed)", raw[0].Params, want)
	}

	p.msg(t, dm.CreateThinMsg(0))
	p.msg(t, dm.SetTransactionIDMsg(0, 1))
	thin0, bd := p.thin(t, "thin0", 0, 64<<20)
	if got := bd.Size(); got != 64<<20 {
		t.Errorf("Size %d", got)
	}
	if ts := p.thinStatus(t, thin0); ts.MappedSectors != 0 || ts.HasMapped {
		t.Errorf("fresh thin status %+v", ts)
	}
	zero := make([]byte, 1<<20)
	got := make([]byte, 1<<20)
	if _, err := bd.ReadAt(got, 0); err != nil || !bytes.Equal(got, zero) {
		t.Fatalf("unmapped read: %v, zero=%v", err, bytes.Equal(got, zero))
	}
	a := pattern(1, 1<<20)
	b := pattern(2, 1<<20)
	if _, err := bd.WriteAt(a, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := bd.WriteAt(b, 32<<20); err != nil {
		t.Fatal(err)
	}
	if err := bd.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		off  int64
		want []byte
	}{{0, a}, {32 << 20, b}} {
		if _, err := bd.ReadAt(got, x.off); err != nil || !bytes.Equal(got, x.want) {
			t.Fatalf("read back at %d: %v, equal=%v", x.off, err, bytes.Equal(got, x.want))
		}
	}
	ts := p.thinStatus(t, thin0)
	if ts.MappedSectors != 4096 || ts.HighestMapped != (33<<20)/512-1 {
		t.Errorf("thin status after two 1 MiB writes: %+v", ts)
	}
	if st := p.status(t); st.UsedDataBlocks != 32 || st.TransactionID != 1 {
		t.Errorf("pool status after writes: %+v", st)
	}

	// Snapshot with the origin suspended, then diverge both ways.
	if err := c.Suspend(ctx, thin0, dm.SuspendOptions{}); err != nil {
		t.Fatal(err)
	}
	if info, _ := c.Info(ctx, thin0); !info.Suspended {
		t.Errorf("Info after Suspend: %+v", info)
	}
	p.msg(t, dm.CreateSnapMsg(1, 0))
	if err := c.Resume(ctx, thin0); err != nil {
		t.Fatal(err)
	}
	p.msg(t, dm.SetTransactionIDMsg(1, 2))
	snap, sbd := p.thin(t, "snap1", 1, 64<<20)
	c2 := pattern(3, 1<<20)
	if _, err := bd.WriteAt(c2, 0); err != nil {
		t.Fatal(err)
	}
	d := pattern(4, 1<<20)
	if _, err := sbd.WriteAt(d, 32<<20); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		dev  dm.BlockDevice
		off  int64
		want []byte
	}{{bd, 0, c2}, {bd, 32 << 20, b}, {sbd, 0, a}, {sbd, 32 << 20, d}} {
		if _, err := x.dev.ReadAt(got, x.off); err != nil || !bytes.Equal(got, x.want) {
			t.Errorf("snapshot isolation: read at %d: %v equal=%v", x.off, err, bytes.Equal(got, x.want))
		}
	}
	if st := p.status(t); st.UsedDataBlocks != 64 || st.TransactionID != 2 {
		t.Errorf("pool status after COW: %+v", st)
	}
	if ts := p.thinStatus(t, snap); ts.MappedSectors != 4096 {
		t.Errorf("snapshot thin status %+v", ts)
	}

	// Discard whole blocks: unmapped and zero again.
	if err := bd.Discard(0, 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := bd.ReadAt(got, 0); err != nil || !bytes.Equal(got, zero) {
		t.Errorf("read after discard not zero: %v", err)
	}
	if ts := p.thinStatus(t, thin0); ts.MappedSectors != 2048 {
		t.Errorf("thin status after discard %+v", ts)
	}

	// Unaligned IO is refused before any syscall.
	_, err := bd.ReadAt(make([]byte, 100), 0)
	wantErr(t, err, dm.ErrUnaligned, syscall.EINVAL)
	_, err = bd.WriteAt(make([]byte, 512), 3)
	wantErr(t, err, dm.ErrUnaligned, syscall.EINVAL)

	// Reads at the end of the device stop with io.EOF.
	n, err := bd.ReadAt(make([]byte, 4096), bd.Size()-2048)
	if n != 2048 || err == nil {
		t.Errorf("read across the end: n=%d err=%v", n, err)
	}

	// List shows our devices, sorted.
	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range list {
		names = append(names, d.Name)
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("List not sorted: %v", names)
		}
	}
	found := 0
	for _, n := range names {
		if n == p.name || n == thin0 || n == snap {
			found++
		}
	}
	if found != 3 {
		t.Errorf("List %v misses pool/thin/snap", names)
	}
	if info, _ := c.Info(ctx, p.name); info.OpenCount != 2 || !info.LiveTable || info.TargetCount != 1 {
		t.Errorf("pool Info %+v (two thins hold it open)", info)
	}
}

func TestVMTables(t *testing.T) {
	c := newControl(t)
	ctx := ctxT(t)
	p := newPool(t, c, 64<<20, 10, dm.PoolFeatures{SkipBlockZeroing: true, ErrorIfNoSpace: true})
	tbl, err := c.Table(ctx, p.name, dm.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl) != 1 || tbl[0].Type != dm.TargetThinPool || tbl[0].Length != 64<<20/512 {
		t.Fatalf("table %v", tbl)
	}
	got, err := dm.ParseThinPoolParams(tbl[0].Params)
	if err != nil {
		t.Fatalf("parse %q: %v", tbl[0].Params, err)
	}
	if got.DataBlockSectors != testBlockSects || got.LowWaterMark != 10 || !got.Features.SkipBlockZeroing || !got.Features.ErrorIfNoSpace {
		t.Errorf("table params %+v", got)
	}
	if tbl[0].Params[len(tbl[0].Params)-1] == ' ' {
		t.Errorf("Table params keep a trailing blank: %q", tbl[0].Params)
	}
	if st := p.status(t); !st.ErrorIfNoSpace {
		t.Errorf("status %+v", st)
	}

	// Stage a bigger data device: inactive table visible, live unchanged.
	if err := os.Truncate(p.dataFile, 128<<20); err != nil {
		t.Fatal(err)
	}
	if err := RefreshLoop(p.dataDev); err != nil {
		t.Fatal(err)
	}
	if sz, err := BlockDeviceSize(p.dataDev); err != nil || sz != 128<<20 {
		t.Fatalf("loop size after refresh %d %v", sz, err)
	}
	big := dm.Table{p.params.Target(128 << 20 / 512)}
	if err := c.Load(ctx, p.name, big); err != nil {
		t.Fatal(err)
	}
	info, _ := c.Info(ctx, p.name)
	if !info.InactiveTable || !info.LiveTable {
		t.Errorf("Info after Load %+v", info)
	}
	in, err := c.Table(ctx, p.name, dm.TableOptions{Inactive: true})
	if err != nil || len(in) != 1 || in[0].Length != 128<<20/512 {
		t.Errorf("inactive table %v %v", in, err)
	}
	if err := c.ClearInactive(ctx, p.name); err != nil {
		t.Fatal(err)
	}
	if info, _ := c.Info(ctx, p.name); info.InactiveTable {
		t.Errorf("Info after ClearInactive %+v", info)
	}
	if in, err := c.Table(ctx, p.name, dm.TableOptions{Inactive: true}); err != nil || len(in) != 0 {
		t.Errorf("inactive table after clear %v %v", in, err)
	}
	// Load again and resume: the pool grows.
	if err := c.Load(ctx, p.name, big); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(ctx, p.name); err != nil {
		t.Fatal(err)
	}
	if st := p.status(t); st.TotalDataBlocks != 128<<20/uint64(p.blockBytes) {
		t.Errorf("after grow: %+v", st)
	}
	// Shrinking is refused at resume.
	small := dm.Table{p.params.Target(64 << 20 / 512)}
	if err := c.Load(ctx, p.name, small); err != nil {
		t.Fatal(err)
	}
	err = c.Resume(ctx, p.name)
	wantErr(t, err, dm.ErrPoolTooSmall, syscall.EINVAL)
	// Put the big table back so the pool can be resumed and removed.
	if err := c.Load(ctx, p.name, big); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(ctx, p.name); err != nil {
		t.Fatalf("resume after refused shrink: %v", err)
	}
}

func TestVMWaitEvent(t *testing.T) {
	c := newControl(t)
	ctx := ctxT(t)
	// 16 blocks, low-water mark 12 free: the 5th allocated block raises
	// the event.
	p := newPool(t, c, 16*64<<10, 12, dm.PoolFeatures{})
	info, err := c.Info(ctx, p.name)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.WaitEvent(short, p.name, info.EventNr); err != context.DeadlineExceeded {
		t.Fatalf("WaitEvent with no event: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("WaitEvent ignored its context for %v", d)
	}
	if ev, err := c.WaitEvent(ctx, p.name, info.EventNr+100); err != nil || ev != info.EventNr {
		t.Errorf("WaitEvent with a stale counter: %d %v, want %d at once", ev, err, info.EventNr)
	}
	p.msg(t, dm.CreateThinMsg(0))
	_, bd := p.thin(t, "t", 0, 16*64<<10)
	done := make(chan error, 1)
	var got uint32
	go func() {
		var err error
		got, err = c.WaitEvent(ctx, p.name, info.EventNr)
		done <- err
	}()
	if _, err := bd.WriteAt(pattern(9, 6*64<<10), 0); err != nil {
		t.Fatal(err)
	}
	if err := bd.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || got == info.EventNr {
			t.Errorf("WaitEvent: %d %v", got, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no event after crossing the low-water mark")
	}
}

func TestVMNoSpaceTimeout(t *testing.T) {
	newControl(t)
	old, err := NoSpaceTimeout()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { SetNoSpaceTimeout(old) })
	if err := SetNoSpaceTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got, err := NoSpaceTimeout(); err != nil || got != 5*time.Second {
		t.Errorf("read back %v %v", got, err)
	}
	if err := SetNoSpaceTimeout(1500 * time.Millisecond); err == nil {
		t.Error("fractional seconds accepted")
	}
}

func TestVMListEmptyAndUUID(t *testing.T) {
	c := newControl(t)
	ctx := ctxT(t)
	list, err := c.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	name := devName(t, "only")
	if _, err := c.Create(ctx, name, dm.CreateOptions{UUID: "thinraft-test-uuid"}); err != nil {
		t.Fatal(err)
	}
	defer c.Remove(ctx, name, dm.RemoveOptions{})
	after, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(list)+1 {
		t.Fatalf("List grew from %d to %d devices", len(list), len(after))
	}
	for _, d := range after {
		if d.Name == name && d.UUID != "thinraft-test-uuid" {
			t.Errorf("uuid %q", d.UUID)
		}
	}
}
