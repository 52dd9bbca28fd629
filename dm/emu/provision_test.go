package emu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

// dataBlockOf returns the data block thin id maps vb to (0, false when
// unmapped).
func (tp *testPool) dataBlockOf(id uint32, vb uint64) (uint64, bool) {
	tp.e.mu.Lock()
	defer tp.e.mu.Unlock()
	for _, p := range tp.e.pools {
		p.mu.RLock()
		v := p.md.devs[id].lookup(vb)
		p.mu.RUnlock()
		if v != 0 {
			b, _ := unpackMapping(v)
			return b, true
		}
	}
	return 0, false
}

// TestProvisionRunMixedRequest writes one request that starts and ends in
// partial blocks and crosses unmapped, shared and fragmented free space,
// and checks data, isolation from the snapshot and the metadata.
func TestProvisionRunMixedRequest(t *testing.T) {
	tp := newTestPool(t, 4<<20, 64, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	tp.msg("create_thin 9")
	bd := tp.thin("t0", 0, 32*testBlock)
	scratch := tp.thin("t9", 9, 32*testBlock)
	// Fragment the free space: t9 holds every other block of the first 16
	// data blocks, t0's blocks 2..5 are mapped and then shared.
	for i := int64(0); i < 16; i++ {
		if i%2 == 0 {
			mustWrite(t, scratch, i*testBlock, fill(testBlock, 9))
		} else {
			mustWrite(t, bd, (30-i)*testBlock, fill(testBlock, 1))
		}
	}
	mustWrite(t, bd, 2*testBlock, fill(4*testBlock, 2))
	tp.e.Suspend(context.Background(), "t0", dm.SuspendOptions{})
	tp.msg("create_snap 1 0")
	tp.e.Resume(context.Background(), "t0")
	// Free t9's blocks so that the allocator hands out non-contiguous
	// blocks after the commit.
	if err := scratch.Discard(0, 16*testBlock); err != nil {
		t.Fatal(err)
	}
	if err := bd.Flush(); err != nil {
		t.Fatal(err)
	}

	off, n := int64(testBlock/2), int64(12*testBlock)
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(i*7 + i/4096)
	}
	mustWrite(t, bd, off, want)
	if got := readBack(t, bd, off, int(n)); !bytes.Equal(got, want) {
		t.Fatal("origin does not read back what was written")
	}
	// The untouched halves of the partial blocks: block 0 was unmapped
	// (zeros), block 12 was unmapped too.
	if got := readBack(t, bd, 0, testBlock/2); !bytes.Equal(got, fill(testBlock/2, 0)) {
		t.Fatal("head of the first block is not zeros")
	}
	snap := tp.thin("s1", 1, 32*testBlock)
	if got := readBack(t, snap, 2*testBlock, 4*testBlock); !bytes.Equal(got, fill(4*testBlock, 2)) {
		t.Fatal("snapshot lost its data")
	}
	// The whole blocks went into several runs of the data file.
	seen := map[uint64]bool{}
	gaps := 0
	var prev uint64
	for vb := uint64(1); vb < 12; vb++ {
		b, ok := tp.dataBlockOf(0, vb)
		if !ok {
			t.Fatalf("block %d unmapped", vb)
		}
		if seen[b] {
			t.Fatalf("data block %d mapped twice", b)
		}
		seen[b] = true
		if vb > 1 && b != prev+1 {
			gaps++
		}
		prev = b
	}
	if gaps == 0 {
		t.Fatal("allocation was contiguous: the test does not cover split runs")
	}
	tp.checkMeta()
	if err := bd.Flush(); err != nil {
		t.Fatal(err)
	}
	tp.checkMeta()
}

// TestProvisionRunConcurrentWriters has writers race for the same unmapped
// blocks with whole-block and partial writes: every block ends up mapped
// once, holding one writer's complete data.
func TestProvisionRunConcurrentWriters(t *testing.T) {
	tp := newTestPool(t, 4<<20, 128, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	bd := tp.thin("t0", 0, 64*testBlock)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := int64(0); i < 16; i++ {
				var err error
				if w%2 == 0 {
					_, err = bd.WriteAt(fill(4*testBlock, byte(w+1)), i*4*testBlock)
				} else {
					_, err = bd.WriteAt(fill(testBlock, byte(w+1)), (i*4+int64(w))*testBlock)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for vb := int64(0); vb < 64; vb++ {
		got := readBack(t, bd, vb*testBlock, testBlock)
		if !bytes.Equal(got, fill(testBlock, got[0])) || got[0] == 0 {
			t.Fatalf("block %d is torn or empty", vb)
		}
	}
	tp.checkMeta()
	if st := tp.status(); st.UsedDataBlocks != 64 {
		t.Fatalf("used %d data blocks, want 64", st.UsedDataBlocks)
	}
}

// TestProvisionRunOutOfSpace: a run longer than the free space writes what
// fits and then follows the pool's no-space policy for the rest.
func TestProvisionRunOutOfSpace(t *testing.T) {
	tp := newTestPool(t, 4<<20, 8, dm.PoolFeatures{ErrorIfNoSpace: true})
	tp.msg("create_thin 0")
	bd := tp.thin("t0", 0, 16*testBlock)
	_, err := bd.WriteAt(fill(12*testBlock, 5), 0)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write beyond the data space: %v, want ENOSPC", err)
	}
	if got := readBack(t, bd, 0, 8*testBlock); !bytes.Equal(got, fill(8*testBlock, 5)) {
		t.Fatal("the blocks that fitted were not written")
	}
	tp.checkMeta()
}

// TestZeroingOfReusedBlocks: a partial write to a newly allocated block
// reads zeros around it, whether the data block is a hole of the data
// file, was written before and freed without passdown (its old contents
// still in the file, possibly still dirty in the page cache), or the file
// was preallocated.
func TestZeroingOfReusedBlocks(t *testing.T) {
	for _, prealloc := range []bool{false, true} {
		tp := newTestPool(t, 4<<20, 16, dm.PoolFeatures{NoDiscardPassdown: true})
		if prealloc {
			f, err := os.OpenFile(tp.data, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Fallocate(int(f.Fd()), 0, 0, 16*testBlock); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		tp.msg("create_thin 0")
		bd := tp.thin("t0", 0, 16*testBlock)
		mustWrite(t, bd, 0, fill(4*testBlock, 0xee))
		if err := bd.Discard(0, 4*testBlock); err != nil {
			t.Fatal(err)
		}
		if err := bd.Flush(); err != nil { // commit: the freed blocks become allocatable
			t.Fatal(err)
		}
		for vb := int64(8); vb < 12; vb++ {
			mustWrite(t, bd, vb*testBlock+8192, fill(4096, 0x11))
			want := fill(testBlock, 0)
			copy(want[8192:], fill(4096, 0x11))
			if got := readBack(t, bd, vb*testBlock, testBlock); !bytes.Equal(got, want) {
				t.Fatalf("prealloc %v: block %d: stale data around a partial write", prealloc, vb)
			}
			if b, _ := tp.dataBlockOf(0, uint64(vb)); b >= 4 {
				t.Fatalf("block %d went to data block %d: the test wants reuse", vb, b)
			}
		}
		tp.checkMeta()
	}
}

// TestWholeBlockOverwriteDoesNotCopy: writes that cover whole shared
// blocks remap them without copying (one run or one block at a time); only
// a partial write to a shared block copies it.
func TestWholeBlockOverwriteDoesNotCopy(t *testing.T) {
	tp := newTestPool(t, 4<<20, 64, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	bd := tp.thin("t0", 0, 16*testBlock)
	mustWrite(t, bd, 0, fill(16*testBlock, 1))
	tp.e.Suspend(context.Background(), "t0", dm.SuspendOptions{})
	tp.msg("create_snap 1 0")
	tp.e.Resume(context.Background(), "t0")
	copies := func() uint64 {
		tp.e.mu.Lock()
		defer tp.e.mu.Unlock()
		var n uint64
		for _, p := range tp.e.pools {
			n += p.copies.Load()
		}
		return n
	}
	mustWrite(t, bd, 0, fill(8*testBlock, 2))         // a run
	mustWrite(t, bd, 8*testBlock, fill(testBlock, 3)) // one block
	if n := copies(); n != 0 {
		t.Fatalf("whole-block overwrites of shared blocks copied %d blocks", n)
	}
	mustWrite(t, bd, 9*testBlock+4096, fill(4096, 4))
	if n := copies(); n != 1 {
		t.Fatalf("a partial write to a shared block copied %d blocks, want 1", n)
	}
	snap := tp.thin("s1", 1, 16*testBlock)
	if got := readBack(t, snap, 0, 16*testBlock); !bytes.Equal(got, fill(16*testBlock, 1)) {
		t.Fatal("snapshot changed")
	}
	want := append(append(fill(8*testBlock, 2), fill(testBlock, 3)...), fill(4096, 1)...)
	want = append(append(want, fill(4096, 4)...), fill(testBlock-8192, 1)...)
	if got := readBack(t, bd, 0, 10*testBlock); !bytes.Equal(got, want) {
		t.Fatal("origin does not hold the overwrites")
	}
	tp.checkMeta()
}
