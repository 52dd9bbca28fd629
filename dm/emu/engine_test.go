package emu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

func TestFreshPoolStatusMatchesKernel(t *testing.T) {
	// vm-bench.md: a fresh pool on a 64 MiB metadata device and 1024 data
	// blocks reports 0 1648/16384 0/1024 - rw ...
	tp := newTestPool(t, 64<<20, 1024, dm.PoolFeatures{})
	st, _ := tp.e.Status(context.Background(), "pool", dm.StatusOptions{})
	want := "0 1648/16384 0/1024 - rw discard_passdown queue_if_no_space - 1024 "
	if st[0].Params != want {
		t.Fatalf("status %q, want %q", st[0].Params, want)
	}
}

func TestWriteReadSnapshotIsolation(t *testing.T) {
	tp := newTestPool(t, 4<<20, 64, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	t0 := tp.thin("t0", 0, 16*testBlock)
	if got := readBack(t, t0, 0, 4096); !bytes.Equal(got, make([]byte, 4096)) {
		t.Fatal("unmapped read is not zero")
	}
	mustWrite(t, t0, 4096, fill(4096, 'a'))
	// Partial write of a new block: the rest reads as zeros.
	got := readBack(t, t0, 0, testBlock)
	if !bytes.Equal(got[:4096], make([]byte, 4096)) || !bytes.Equal(got[4096:8192], fill(4096, 'a')) {
		t.Fatal("partial block write not zero-filled")
	}
	ctx := context.Background()
	tp.e.Suspend(ctx, "t0", dm.SuspendOptions{})
	tp.msg("create_snap 1 0")
	tp.e.Resume(ctx, "t0")
	t1 := tp.thin("t1", 1, 16*testBlock)
	mustWrite(t, t0, 4096, fill(512, 'b')) // breaks sharing
	if got := readBack(t, t1, 4096, 4096); !bytes.Equal(got, fill(4096, 'a')) {
		t.Fatal("snapshot sees origin's new write")
	}
	if got := readBack(t, t0, 4096, 1024); !bytes.Equal(got[:512], fill(512, 'b')) || !bytes.Equal(got[512:], fill(512, 'a')) {
		t.Fatal("origin lost the copied rest of the block")
	}
	mustWrite(t, t1, 0, fill(testBlock, 'c'))
	if got := readBack(t, t0, 0, 512); !bytes.Equal(got, make([]byte, 512)) {
		t.Fatal("origin sees snapshot's write")
	}
	tp.checkMeta()
	if s := tp.status(); s.UsedDataBlocks != 2 {
		t.Fatalf("used data blocks %d, want 2", s.UsedDataBlocks)
	}
	// Discard of a whole block unmaps it; a partial discard does nothing.
	mustWrite(t, t1, testBlock, fill(4096, 'd'))
	if err := t1.Discard(0, testBlock+4096); err != nil {
		t.Fatal(err)
	}
	if got := readBack(t, t1, 0, 512); !bytes.Equal(got, make([]byte, 512)) {
		t.Fatal("discarded block still mapped")
	}
	if got := readBack(t, t1, testBlock, 512); !bytes.Equal(got, fill(512, 'd')) {
		t.Fatal("partial discard touched a block")
	}
	tp.checkMeta()
}

func TestUnalignedAndBeyondEnd(t *testing.T) {
	tp := newTestPool(t, 4<<20, 16, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	t0 := tp.thin("t0", 0, 4*testBlock)
	if _, err := t0.WriteAt(make([]byte, 100), 0); !errors.Is(err, dm.ErrUnaligned) || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("unaligned write: %v", err)
	}
	if _, err := t0.WriteAt(make([]byte, 512), 4*testBlock); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write at end: %v", err)
	}
}

func TestErrorIfNoSpace(t *testing.T) {
	tp := newTestPool(t, 4<<20, 2, dm.PoolFeatures{ErrorIfNoSpace: true})
	tp.msg("create_thin 0")
	t0 := tp.thin("t0", 0, 8*testBlock)
	mustWrite(t, t0, 0, fill(512, 1))
	mustWrite(t, t0, testBlock, fill(512, 1))
	_, err := t0.WriteAt(fill(512, 1), 2*testBlock)
	if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, dm.ErrNoSpace) {
		t.Fatalf("write to full pool: %v", err)
	}
	if s := tp.status(); s.Mode != dm.ModeOutOfDataSpace {
		t.Fatalf("mode %s", s.Mode)
	}
	// Writes to mapped blocks still work.
	mustWrite(t, t0, 0, fill(512, 2))
}

func TestQueueNoSpaceResumesAfterResize(t *testing.T) {
	tp := newTestPool(t, 4<<20, 1, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	t0 := tp.thin("t0", 0, 8*testBlock)
	mustWrite(t, t0, 0, fill(512, 1))
	done := make(chan error, 1)
	go func() { _, err := t0.WriteAt(fill(512, 2), testBlock); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("write to a full queue_if_no_space pool returned at once: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	ctx := context.Background()
	if err := os.Truncate(tp.data, 4*testBlock); err != nil {
		t.Fatal(err)
	}
	if err := tp.e.Load(ctx, "pool", dm.Table{tp.params().Target(4 * testBlockSectors)}); err != nil {
		t.Fatal(err)
	}
	if err := tp.e.Resume(ctx, "pool"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("queued write did not complete after resize")
	}
	if s := tp.status(); s.Mode != dm.ModeRW || s.TotalDataBlocks != 4 {
		t.Fatalf("status after resize: %+v", s)
	}
}

func TestNoSpaceTimeout(t *testing.T) {
	tp := newTestPool(t, 4<<20, 1, dm.PoolFeatures{})
	tp.e.SetNoSpaceTimeout(100 * time.Millisecond)
	tp.msg("create_thin 0")
	t0 := tp.thin("t0", 0, 8*testBlock)
	mustWrite(t, t0, 0, fill(512, 1))
	start := time.Now()
	_, err := t0.WriteAt(fill(512, 2), testBlock)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("after the no-space timeout: %v", err)
	}
	if time.Since(start) < 80*time.Millisecond {
		t.Fatal("write failed before the timeout")
	}
}

func TestShrinkRefusedOnResume(t *testing.T) {
	tp := newTestPool(t, 4<<20, 8, dm.PoolFeatures{})
	ctx := context.Background()
	if err := tp.e.Load(ctx, "pool", dm.Table{tp.params().Target(4 * testBlockSectors)}); err != nil {
		t.Fatal(err)
	}
	err := tp.e.Resume(ctx, "pool")
	if !errors.Is(err, dm.ErrPoolTooSmall) || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("resume with a smaller data device: %v", err)
	}
}

func TestMessagesErrnos(t *testing.T) {
	tp := newTestPool(t, 4<<20, 8, dm.PoolFeatures{})
	ctx := context.Background()
	cases := []struct {
		msg   string
		errno syscall.Errno
	}{
		{"create_thin 0", 0},
		{"create_thin 0", syscall.EEXIST},
		{"create_snap 1 7", syscall.ENODATA},
		{"create_snap 0 0", syscall.EEXIST},
		{"delete 9", syscall.ENODATA},
		{"set_transaction_id 1 2", syscall.EINVAL},
		{"set_transaction_id 0 2", 0},
		{"release_metadata_snap", syscall.EINVAL},
		{"reserve_metadata_snap", 0},
		{"reserve_metadata_snap", syscall.EBUSY},
		{"release_metadata_snap", 0},
		{"frobnicate", syscall.EINVAL},
	}
	for _, c := range cases {
		_, err := tp.e.Message(ctx, "pool", 0, c.msg)
		if dm.Errno(err) != c.errno {
			t.Fatalf("%q: %v, want errno %v", c.msg, err, c.errno)
		}
	}
	tp.thin("t0", 0, testBlock)
	if _, err := tp.e.Message(ctx, "pool", 0, "delete 0"); !errors.Is(err, dm.ErrThinIDActive) {
		t.Fatalf("delete of an open thin: %v", err)
	}
}

func TestGarbageMetadataRefused(t *testing.T) {
	dir := t.TempDir()
	e, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mkfile(t, dir+"/meta", 1<<20)
	mkfile(t, dir+"/data", 16*testBlock)
	os.WriteFile(dir+"/meta", bytes.Repeat([]byte("garbage!"), 1024), 0o644)
	p := dm.ThinPoolParams{MetadataDev: "meta", DataDev: "data", DataBlockSectors: testBlockSectors}
	_, err = e.Create(context.Background(), "pool", dm.CreateOptions{Table: dm.Table{p.Target(16 * testBlockSectors)}})
	if !errors.Is(err, syscall.ENOTBLK) {
		t.Fatalf("garbage metadata: %v", err)
	}
	if _, err := e.Info(context.Background(), "pool"); !errors.Is(err, dm.ErrDeviceNotFound) {
		t.Fatalf("failed create left the device: %v", err)
	}
}

func TestTwoEnginesOneDir(t *testing.T) {
	dir := t.TempDir()
	e, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := New(Options{Dir: dir}); err == nil {
		t.Fatal("second engine on the same dir was allowed")
	}
}
