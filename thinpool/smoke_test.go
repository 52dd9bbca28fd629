package thinpool

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/thinraft/thinraft/dm/emu"
)

// TestSmokeLifecycle walks a pool through create, write, snapshot, delete
// and a restart on the userspace engine.
func TestSmokeLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	meta, data := filepath.Join(dir, "meta"), filepath.Join(dir, "data")
	for f, sz := range map[string]int64{meta: 8 << 20, data: 64 << 20} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, sz); err != nil {
			t.Fatal(err)
		}
	}
	open := func() (*emu.Engine, *Pool) {
		e, err := emu.New(emu.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := NewFileRecord(filepath.Join(dir, "record.json"), "p0")
		if err != nil {
			t.Fatal(err)
		}
		p, err := Open(ctx, Config{Name: "p0", MetadataDev: meta, DataDev: data}, Options{Control: e, Record: rec, Grower: FileGrower{}})
		if err != nil {
			t.Fatal(err)
		}
		return e, p
	}
	e, p := open()
	if err := p.CreateThin(ctx, 1, 2048*16); err != nil {
		t.Fatal(err)
	}
	dev, err := p.OpenThin(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{0xab}, 65536)
	if _, err := dev.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := p.Snapshot(ctx, 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.WriteAt(bytes.Repeat([]byte{0xcd}, 65536), 0); err != nil {
		t.Fatal(err)
	}
	dev.Close()
	u, err := p.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("usage %+v", u)
	if len(u.Volumes) != 2 || u.Volumes[0].Exclusive != 1 || u.Volumes[1].Exclusive != 1 {
		t.Fatalf("usage %+v: want two volumes with one exclusive block each", u)
	}
	d, err := p.Delta(ctx, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 1 || d[0].Kind != DeltaDifferent || d[0].Begin != 0 || d[0].Length != 1 {
		t.Fatalf("delta %+v", d)
	}
	if err := p.Delete(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ps, _ := p.Status(ctx)
	if ps.TransactionID != 3 {
		t.Fatalf("txn %d, want 3", ps.TransactionID)
	}
	e.Crash()
	_, p = open()
	rep, err := p.Reconcile(ctx)
	if err != nil || len(rep.Findings) != 0 {
		t.Fatalf("reconcile %+v %v", rep, err)
	}
	snap, err := p.OpenThin(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 65536)
	if _, err := snap.ReadAt(got, 0); err != nil || !bytes.Equal(got, buf) {
		t.Fatalf("snapshot data lost after restart: %v", err)
	}
}
