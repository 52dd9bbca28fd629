package emu

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

// backing is what a target maps onto: a plain file or another engine
// device. Offsets are bytes.
type backing interface {
	readAt(p []byte, off int64) error
	writeAt(p []byte, off int64) error
	flush() error
	discard(off, length int64) error
	size() int64
	name() string // as reported in tables
	close()
}

// fileBacking is a file standing in for a block device.
type fileBacking struct {
	f   *os.File
	ref string
	sz  int64
}

func openFileBacking(path, ref string, readOnly bool) (*fileBacking, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
		f.Close()
		return nil, fmt.Errorf("%s is not a file or block device", path)
	}
	return &fileBacking{f: f, ref: ref, sz: st.Size()}, nil
}

func (b *fileBacking) readAt(p []byte, off int64) error {
	n, err := b.f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	return ioErr(err)
}

func (b *fileBacking) writeAt(p []byte, off int64) error {
	_, err := b.f.WriteAt(p, off)
	return ioErr(err)
}

func (b *fileBacking) flush() error { return ioErr(unix.Fdatasync(int(b.f.Fd()))) }

func (b *fileBacking) discard(off, length int64) error {
	return ioErr(unix.Fallocate(int(b.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, length))
}

func (b *fileBacking) size() int64  { return b.sz }
func (b *fileBacking) name() string { return b.ref }
func (b *fileBacking) close()       { b.f.Close() }

// devBacking is another engine device used by a table.
type devBacking struct {
	e *Engine
	d *device
}

func (b *devBacking) readAt(p []byte, off int64) error  { return b.e.deviceIO(b.d, p, off, false) }
func (b *devBacking) writeAt(p []byte, off int64) error { return b.e.deviceIO(b.d, p, off, true) }
func (b *devBacking) flush() error                      { return b.e.deviceFlush(b.d) }
func (b *devBacking) discard(off, length int64) error   { return b.e.deviceDiscard(b.d, off, length) }
func (b *devBacking) size() int64 {
	if b.d.live == nil {
		return 0
	}
	return int64(b.d.live.size()) * dm.SectorSize
}
func (b *devBacking) name() string { return devNum(b.d) }
func (b *devBacking) close()       {}

// openBacking resolves ref (an engine device or a file) for table t of
// device owner. Missing devices are ENODEV, as dm_get_device answers.
func (e *Engine) openBacking(owner *device, t *tableInst, ref string, readOnly bool) (backing, error) {
	if d := e.resolveDevice(ref); d != nil {
		if d == owner {
			return nil, errf("load", owner.name, ref, dm.ErrInvalidTable, syscall.EINVAL, "a table cannot refer to its own device")
		}
		e.holdDevice(t, d)
		return &devBacking{e: e, d: d}, nil
	}
	fb, err := openFileBacking(e.resolvePath(ref), ref, readOnly)
	if err != nil {
		return nil, errf("load", owner.name, ref, dm.ErrInvalidTable, syscall.ENODEV, "error opening device %s: %v", ref, err)
	}
	return fb, nil
}

func ioErr(err error) error {
	if err == nil {
		return nil
	}
	return &dm.Error{Op: "io", Kind: dm.ErrIO, Errno: syscall.EIO, Detail: err.Error()}
}

// linear maps its extent onto a backing device at an offset.
type linear struct {
	dev    backing
	offset int64 // bytes
	length int64
	src    string
}

func (e *Engine) newLinear(owner *device, t *tableInst, tg dm.Target) (target, error) {
	p, err := dm.ParseLinearParams(tg.Params)
	if err != nil {
		return nil, errf("load", owner.name, tg.Params, dm.ErrInvalidTable, syscall.EINVAL, "%v", err)
	}
	b, err := e.openBacking(owner, t, p.Dev, owner.readOnly)
	if err != nil {
		return nil, err
	}
	end := (p.Offset + tg.Length) * dm.SectorSize
	if end > uint64(b.size()) {
		b.close()
		return nil, errf("load", owner.name, tg.Params, dm.ErrInvalidTable, syscall.EINVAL,
			"device %s too small for target: start=%d, len=%d, dev_size=%d", p.Dev, p.Offset, tg.Length, b.size()/dm.SectorSize)
	}
	return &linear{dev: b, offset: int64(p.Offset) * dm.SectorSize, length: int64(tg.Length) * dm.SectorSize, src: p.Dev}, nil
}

func (l *linear) kind() string                          { return dm.TargetLinear }
func (l *linear) params() string                        { return fmt.Sprintf("%s %d", l.dev.name(), l.offset/dm.SectorSize) }
func (l *linear) status(noFlush, suspended bool) string { return "" }
func (l *linear) readAt(p []byte, off int64) error      { return l.dev.readAt(p, l.offset+off) }
func (l *linear) writeAt(p []byte, off int64) error     { return l.dev.writeAt(p, l.offset+off) }
func (l *linear) discard(off, n int64) error            { return l.dev.discard(l.offset+off, n) }
func (l *linear) flush() error                          { return l.dev.flush() }
func (l *linear) presuspend(bool)                       {}
func (l *linear) postsuspend(bool)                      {}
func (l *linear) preresume() error                      { return nil }
func (l *linear) resume()                               {}
func (l *linear) destroy()                              { l.dev.close() }
func (l *linear) message(msg string) (string, error) {
	return "", errf("message", "", msg, dm.ErrBadMessage, syscall.EINVAL, "Target type does not support messages")
}
