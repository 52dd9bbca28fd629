package emu

import (
	"context"
	"io"
	"sync"
	"syscall"

	"github.com/thinraft/thinraft/dm"
)

// Open opens an active device for IO.
func (e *Engine) Open(ctx context.Context, name string) (dm.BlockDevice, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devs[name]
	if d == nil || e.closed {
		return nil, notFound("open", name)
	}
	d.opens++
	return &blockDevice{e: e, d: d}, nil
}

type blockDevice struct {
	e      *Engine
	d      *device
	once   sync.Once
	closed bool
}

func checkAligned(op string, off, n int64) error {
	if off%dm.SectorSize != 0 || n%dm.SectorSize != 0 || off < 0 {
		return &dm.Error{Op: op, Kind: dm.ErrUnaligned, Errno: syscall.EINVAL}
	}
	return nil
}

// ReadAt reads like pread on the block device: at the end of the device
// the read is short and returns io.EOF.
func (b *blockDevice) ReadAt(p []byte, off int64) (int, error) {
	if err := checkAligned("read", off, int64(len(p))); err != nil {
		return 0, err
	}
	n := b.clip(off, len(p))
	if n > 0 {
		if err := b.e.deviceIO(b.d, p[:n], off, false); err != nil {
			return 0, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// clip limits an IO at off to the device size.
func (b *blockDevice) clip(off int64, n int) int {
	size := b.Size()
	if off >= size {
		return 0
	}
	if off+int64(n) > size {
		return int(size - off)
	}
	return n
}

func (b *blockDevice) WriteAt(p []byte, off int64) (int, error) {
	if err := checkAligned("write", off, int64(len(p))); err != nil {
		return 0, err
	}
	if b.d.readOnly {
		return 0, &dm.Error{Op: "write", Device: b.d.name, Kind: dm.ErrIO, Errno: syscall.EROFS}
	}
	// A write past the end of a block device is cut short there, and
	// one starting at the end fails with ENOSPC (blkdev_write_iter).
	n := b.clip(off, len(p))
	if n > 0 {
		if err := b.e.deviceIO(b.d, p[:n], off, true); err != nil {
			return 0, err
		}
	}
	if n < len(p) {
		return n, &dm.Error{Op: "write", Device: b.d.name, Kind: dm.ErrIO, Errno: syscall.ENOSPC, Detail: "beyond end of device"}
	}
	return n, nil
}

func (b *blockDevice) Flush() error { return b.e.deviceFlush(b.d) }

func (b *blockDevice) Discard(off, length int64) error {
	if err := checkAligned("discard", off, length); err != nil {
		return err
	}
	return b.e.deviceDiscard(b.d, off, length)
}

// Size is the live table's length. Every IO asks, so it reads an atomic
// rather than taking the engine's lock, which control operations hold
// across commits (fdatasync).
func (b *blockDevice) Size() int64 { return b.d.size.Load() }

func (b *blockDevice) Close() error {
	b.once.Do(func() {
		b.e.mu.Lock()
		b.d.opens--
		b.e.mu.Unlock()
	})
	return nil
}

func withDevice(d *device, err error) error {
	if de, ok := err.(*dm.Error); ok {
		de.Device = d.name
	}
	return err
}

// deviceIO routes an IO through d's live table, waiting while d is
// suspended. IO beyond the end of the device fails with EIO, as a bio
// beyond the end of a block device does.
func (e *Engine) deviceIO(d *device, p []byte, off int64, write bool) error {
	if !d.gate.enter() {
		return &dm.Error{Op: "io", Device: d.name, Kind: dm.ErrIO, Errno: syscall.EIO, Detail: "device removed"}
	}
	defer d.gate.leave()
	t := d.live
	if t == nil {
		return &dm.Error{Op: "io", Device: d.name, Kind: dm.ErrIO, Errno: syscall.EIO, Detail: "no table"}
	}
	size := int64(t.size()) * dm.SectorSize
	if off+int64(len(p)) > size {
		return &dm.Error{Op: "io", Device: d.name, Kind: dm.ErrIO, Errno: syscall.EIO, Detail: "beyond end of device"}
	}
	for len(p) > 0 {
		tt, _ := t.find(uint64(off / dm.SectorSize))
		tstart := int64(tt.start) * dm.SectorSize
		n := int64(tt.start+tt.length)*dm.SectorSize - off
		if n > int64(len(p)) {
			n = int64(len(p))
		}
		var err error
		if write {
			err = tt.t.writeAt(p[:n], off-tstart)
		} else {
			err = tt.t.readAt(p[:n], off-tstart)
		}
		if err != nil {
			return withDevice(d, err)
		}
		p, off = p[n:], off+n
	}
	return nil
}

func (e *Engine) deviceFlush(d *device) error {
	if !d.gate.enter() {
		return &dm.Error{Op: "flush", Device: d.name, Kind: dm.ErrIO, Errno: syscall.EIO, Detail: "device removed"}
	}
	defer d.gate.leave()
	if d.live == nil {
		return nil
	}
	for _, tt := range d.live.targets {
		if err := tt.t.flush(); err != nil {
			return withDevice(d, err)
		}
	}
	return nil
}

func (e *Engine) deviceDiscard(d *device, off, length int64) error {
	if !d.gate.enter() {
		return &dm.Error{Op: "discard", Device: d.name, Kind: dm.ErrIO, Errno: syscall.EIO, Detail: "device removed"}
	}
	defer d.gate.leave()
	t := d.live
	if t == nil {
		return nil
	}
	size := int64(t.size()) * dm.SectorSize
	if off+length > size {
		return &dm.Error{Op: "discard", Device: d.name, Errno: syscall.EINVAL, Detail: "beyond end of device"}
	}
	for length > 0 {
		tt, _ := t.find(uint64(off / dm.SectorSize))
		tstart := int64(tt.start) * dm.SectorSize
		n := int64(tt.start+tt.length)*dm.SectorSize - off
		if n > length {
			n = length
		}
		if err := tt.t.discard(off-tstart, n); err != nil {
			return withDevice(d, err)
		}
		off, length = off+n, length-n
	}
	return nil
}
