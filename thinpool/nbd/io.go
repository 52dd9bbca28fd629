package nbd

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/thinraft/thinraft/dm"
)

const sector = dm.SectorSize

// zeroChunk bounds the zero buffer written by WRITE_ZEROES.
const zeroChunk = 1 << 20

// volume does byte-granular IO on a 512-byte-aligned BlockDevice: unaligned
// reads are widened to whole sectors, unaligned writes read-modify-write
// their edge sectors. Every mutating IO holds a lock on the sectors it
// touches, shared by all connections of the export, so that two writes into
// different bytes of one sector cannot undo each other.
type volume struct {
	dev           dm.BlockDevice
	size          atomic.Int64 // as of the last connection's start
	block         int64        // pool block size: the discard unit
	discardUnmaps bool
	alloc         Allocation
	locks         rangeLock
	zeros         []byte
}

func newVolume(e *Export) *volume {
	v := &volume{dev: e.Device, block: e.BlockSize, discardUnmaps: e.DiscardUnmaps, alloc: e.Alloc}
	v.size.Store(e.Device.Size())
	if v.block <= 0 {
		v.block = 64 << 10
	}
	if v.alloc == nil {
		v.alloc = AllData{}
	}
	v.locks.init()
	v.zeros = make([]byte, zeroChunk) // never written after this
	return v
}

// currentSize reads the device's size (a volume grows while exported:
// dm reloads its table) and tells the allocation when it changed.
func (v *volume) currentSize() int64 {
	n := v.dev.Size()
	if old := v.size.Swap(n); old != n {
		if r, ok := v.alloc.(interface{ Resize(size int64) }); ok {
			r.Resize(n)
		}
	}
	return n
}

func alignDown(x int64) int64 { return x &^ (sector - 1) }
func alignUp(x int64) int64   { return (x + sector - 1) &^ (sector - 1) }

// readAt fills p from off. Reads need no lock: a read racing a write to the
// same bytes may see either, as on any block device.
func (v *volume) readAt(p []byte, off int64) error {
	if len(p) == 0 {
		return nil
	}
	end := off + int64(len(p))
	if off%sector == 0 && end%sector == 0 {
		return v.devRead(p, off)
	}
	a, b := alignDown(off), alignUp(end)
	buf := make([]byte, b-a)
	if err := v.devRead(buf, a); err != nil {
		return err
	}
	copy(p, buf[off-a:])
	return nil
}

func (v *volume) devRead(p []byte, off int64) error {
	n, err := v.dev.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	if err == nil && n < len(p) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// writeAt writes p at off.
func (v *volume) writeAt(p []byte, off int64) error {
	if len(p) == 0 {
		return nil
	}
	end := off + int64(len(p))
	a, b := alignDown(off), alignUp(end)
	unlock := v.locks.lock(a, b)
	defer unlock()
	v.alloc.Written(off, int64(len(p)))
	if a == off && b == end {
		_, err := v.dev.WriteAt(p, off)
		return err
	}
	buf, err := v.edges(a, b, off, end)
	if err != nil {
		return err
	}
	copy(buf[off-a:], p)
	_, err = v.dev.WriteAt(buf, a)
	return err
}

// edges returns a buffer for the aligned span [a, b) holding the current
// contents of the partial sectors at either end of [off, end). The caller
// holds the lock on [a, b).
func (v *volume) edges(a, b, off, end int64) ([]byte, error) {
	buf := make([]byte, b-a)
	if off != a {
		if err := v.devRead(buf[:sector], a); err != nil {
			return nil, fmt.Errorf("read-modify-write head: %w", err)
		}
	}
	if end != b && (b-sector != a || off == a) {
		if err := v.devRead(buf[len(buf)-sector:], b-sector); err != nil {
			return nil, fmt.Errorf("read-modify-write tail: %w", err)
		}
	}
	return buf, nil
}

// writeZeroes makes [off, off+n) read as zeros. Unless noHole, whole pool
// blocks inside the range are discarded (unmapped, which reads as zeros)
// instead of written, when the pool unmaps on discard.
func (v *volume) writeZeroes(off, n int64, noHole bool) error {
	if n == 0 {
		return nil
	}
	end := off + n
	a, b := alignDown(off), alignUp(end)
	unlock := v.locks.lock(a, b)
	defer unlock()
	if noHole || !v.discardUnmaps {
		return v.zeroLocked(off, end)
	}
	bs := (off + v.block - 1) / v.block * v.block
	be := end / v.block * v.block
	if end == v.size.Load() {
		be = end // a short last block is whole from the device's view
	}
	if be <= bs {
		return v.zeroLocked(off, end)
	}
	if err := v.zeroLocked(off, bs); err != nil {
		return err
	}
	if err := v.dev.Discard(bs, be-bs); err != nil {
		if !errors.Is(err, syscall.EOPNOTSUPP) {
			return err
		}
		// The pool stopped taking discards: write the zeros after all.
		if err := v.zeroLocked(bs, be); err != nil {
			return err
		}
	} else {
		v.alloc.Discarded(bs, be-bs)
	}
	return v.zeroLocked(be, end)
}

// zeroLocked writes zeros over [off, end); the caller holds the lock.
func (v *volume) zeroLocked(off, end int64) error {
	if end <= off {
		return nil
	}
	v.alloc.Written(off, end-off)
	if off%sector != 0 {
		s := alignDown(off)
		e := min(end, s+sector)
		if err := v.zeroPartial(s, off, e); err != nil {
			return err
		}
		off = e
	}
	if off < end && end%sector != 0 {
		s := alignDown(end) // >= off: off is aligned now
		if err := v.zeroPartial(s, s, end); err != nil {
			return err
		}
		end = s
	}
	for off < end {
		n := min(end-off, zeroChunk)
		if _, err := v.dev.WriteAt(v.zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// zeroPartial zeros [from, to) inside the sector at s.
func (v *volume) zeroPartial(s, from, to int64) error {
	if to <= from {
		return nil
	}
	buf := make([]byte, sector)
	if err := v.devRead(buf, s); err != nil {
		return fmt.Errorf("read-modify-write: %w", err)
	}
	clear(buf[from-s : to-s])
	_, err := v.dev.WriteAt(buf, s)
	return err
}

// trim discards the whole sectors inside [off, off+n); the device unmaps
// whole pool blocks among them and leaves the rest, which TRIM allows.
func (v *volume) trim(off, n int64) error {
	a, b := alignUp(off), alignDown(off+n)
	if b <= a {
		return nil
	}
	unlock := v.locks.lock(a, b)
	defer unlock()
	if err := v.dev.Discard(a, b-a); err != nil {
		if errors.Is(err, syscall.EOPNOTSUPP) {
			return nil // TRIM is advisory
		}
		return err
	}
	v.alloc.Discarded(a, b-a)
	return nil
}

func (v *volume) flush() error { return v.dev.Flush() }

// rangeLock serialises mutating IO on overlapping byte ranges.
type rangeLock struct {
	mu     sync.Mutex
	cond   *sync.Cond
	active map[*[2]int64]struct{}
}

func (l *rangeLock) init() {
	l.cond = sync.NewCond(&l.mu)
	l.active = make(map[*[2]int64]struct{})
}

// lock waits until no held range overlaps [a, b), takes it and returns
// its release.
func (l *rangeLock) lock(a, b int64) func() {
	r := &[2]int64{a, b}
	l.mu.Lock()
	for l.overlaps(a, b) {
		l.cond.Wait()
	}
	l.active[r] = struct{}{}
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.active, r)
		l.mu.Unlock()
		l.cond.Broadcast()
	}
}

func (l *rangeLock) overlaps(a, b int64) bool {
	for r := range l.active {
		if r[0] < b && a < r[1] {
			return true
		}
	}
	return false
}
