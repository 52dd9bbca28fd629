package emu

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

const (
	testBlockSectors = 128 // 64 KiB
	testBlock        = testBlockSectors * dm.SectorSize
)

// testPool is a pool device "pool" on files meta and data in dir.
type testPool struct {
	t    *testing.T
	dir  string
	e    *Engine
	meta string
	data string
	// dataBlocks is the pool's data size in blocks.
	dataBlocks uint64
	features   dm.PoolFeatures
}

func mkfile(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func newTestPool(t *testing.T, metaBytes int64, dataBlocks uint64, f dm.PoolFeatures) *testPool {
	t.Helper()
	dir := t.TempDir()
	tp := &testPool{t: t, dir: dir, meta: filepath.Join(dir, "meta"), data: filepath.Join(dir, "data"),
		dataBlocks: dataBlocks, features: f}
	mkfile(t, tp.meta, metaBytes)
	mkfile(t, tp.data, int64(dataBlocks)*testBlock)
	tp.open()
	return tp
}

func (tp *testPool) params() dm.ThinPoolParams {
	return dm.ThinPoolParams{MetadataDev: tp.meta, DataDev: tp.data, DataBlockSectors: testBlockSectors,
		LowWaterMark: 0, Features: tp.features}
}

// open starts a fresh engine and activates the pool.
func (tp *testPool) open() {
	tp.t.Helper()
	e, err := New(Options{Dir: filepath.Join(tp.dir, "eng"), CommitPeriod: time.Hour})
	if err != nil {
		tp.t.Fatal(err)
	}
	tp.e = e
	tp.t.Cleanup(func() { e.Close() })
	if _, err := e.Create(context.Background(), "pool", dm.CreateOptions{
		Table: dm.Table{tp.params().Target(tp.dataBlocks * testBlockSectors)}}); err != nil {
		tp.t.Fatal(err)
	}
}

func (tp *testPool) msg(m string) {
	tp.t.Helper()
	if _, err := tp.e.Message(context.Background(), "pool", 0, m); err != nil {
		tp.t.Fatalf("message %q: %v", m, err)
	}
}

// thin activates thin id as device name with size bytes and opens it.
func (tp *testPool) thin(name string, id uint32, size int64) dm.BlockDevice {
	tp.t.Helper()
	ctx := context.Background()
	tbl := dm.Table{dm.ThinParams{PoolDev: "pool", ID: id}.Target(uint64(size / dm.SectorSize))}
	if _, err := tp.e.Create(ctx, name, dm.CreateOptions{Table: tbl}); err != nil {
		tp.t.Fatal(err)
	}
	bd, err := tp.e.Open(ctx, name)
	if err != nil {
		tp.t.Fatal(err)
	}
	tp.t.Cleanup(func() { bd.Close() })
	return bd
}

func (tp *testPool) status() dm.PoolStatus {
	tp.t.Helper()
	st, err := tp.e.Status(context.Background(), "pool", dm.StatusOptions{})
	if err != nil {
		tp.t.Fatal(err)
	}
	ps, err := dm.ParsePoolStatus(st[0].Params)
	if err != nil {
		tp.t.Fatal(err)
	}
	return ps
}

// checkMeta verifies the pool's in-memory invariants.
func (tp *testPool) checkMeta() {
	tp.t.Helper()
	tp.e.mu.Lock()
	defer tp.e.mu.Unlock()
	for _, p := range tp.e.pools {
		p.mu.Lock()
		err := p.md.check()
		p.mu.Unlock()
		if err != nil {
			tp.t.Fatal(err)
		}
	}
}

func fill(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func readBack(t *testing.T, bd dm.BlockDevice, off int64, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := bd.ReadAt(p, off); err != nil {
		t.Fatalf("read %d+%d: %v", off, n, err)
	}
	return p
}

func mustWrite(t *testing.T, bd dm.BlockDevice, off int64, p []byte) {
	t.Helper()
	if _, err := bd.WriteAt(p, off); err != nil {
		t.Fatalf("write %d+%d: %v", off, len(p), err)
	}
}
