package kernel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

const (
	// bounceSize is the largest single IO issued through a bounce buffer.
	bounceSize = 1 << 20
	// memAlign is the memory alignment used for O_DIRECT buffers; the
	// kernel needs the logical block size (512), a page is always enough.
	memAlign = 4096
)

// Open opens an active device for IO with O_DIRECT, so that reads and
// writes reach dm-thin without the page cache (a flush is then exactly the
// REQ_PREFLUSH the pool commits on).
func (c *Control) Open(ctx context.Context, name string) (dm.BlockDevice, error) {
	info, err := c.Info(ctx, name)
	if err != nil {
		return nil, err
	}
	if !info.LiveTable {
		return nil, &dm.Error{Op: opOpen, Device: name, Kind: dm.ErrNoTable, Errno: unix.ENXIO}
	}
	if err := c.ensureNode(name, uint64(unix.Mkdev(info.Major, info.Minor))); err != nil {
		return nil, err
	}
	path := c.DevPath(name)
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, ioError(opOpen, name, err)
	}
	d := &blockDev{name: name, f: f}
	d.bounce.New = func() any { return alignedBuf(bounceSize) }
	return d, nil
}

// alignedBuf returns n bytes starting at a memAlign boundary. Go's heap
// does not move objects, so the alignment holds for the buffer's life.
func alignedBuf(n int) *[]byte {
	raw := make([]byte, n+memAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % memAlign); r != 0 {
		off = memAlign - r
	}
	b := raw[off : off+n : off+n]
	return &b
}

func isAligned(p []byte) bool {
	return len(p) == 0 || uintptr(unsafe.Pointer(&p[0]))%memAlign == 0
}

// blockDev is an open /dev/mapper node. os.File makes Close safe against
// concurrent ReadAt/WriteAt.
type blockDev struct {
	name   string
	f      *os.File
	bounce sync.Pool // *[]byte of bounceSize, memAlign-aligned
}

func (d *blockDev) checkAligned(op string, off int64, n int) error {
	if off%dm.SectorSize != 0 || n%dm.SectorSize != 0 || off < 0 {
		return &dm.Error{Op: op, Device: d.name, Kind: dm.ErrUnaligned, Errno: unix.EINVAL,
			Detail: fmt.Sprintf("offset %d length %d", off, n)}
	}
	return nil
}

// ReadAt reads len(p) bytes at off. At the end of the device it returns
// the bytes read and io.EOF, as a block device does.
func (d *blockDev) ReadAt(p []byte, off int64) (int, error) {
	if err := d.checkAligned(opRead, off, len(p)); err != nil {
		return 0, err
	}
	if isAligned(p) {
		n, err := d.f.ReadAt(p, off)
		return n, d.wrapIO(opRead, err)
	}
	bp := d.bounce.Get().(*[]byte)
	defer d.bounce.Put(bp)
	done := 0
	for done < len(p) {
		chunk := min(len(p)-done, len(*bp))
		n, err := d.f.ReadAt((*bp)[:chunk], off+int64(done))
		copy(p[done:], (*bp)[:n])
		done += n
		if err != nil {
			return done, d.wrapIO(opRead, err)
		}
	}
	return done, nil
}

// WriteAt writes len(p) bytes at off; durable after the next Flush.
func (d *blockDev) WriteAt(p []byte, off int64) (int, error) {
	if err := d.checkAligned(opWrite, off, len(p)); err != nil {
		return 0, err
	}
	if isAligned(p) {
		n, err := d.f.WriteAt(p, off)
		return n, d.wrapWrite(err, off+int64(n))
	}
	bp := d.bounce.Get().(*[]byte)
	defer d.bounce.Put(bp)
	done := 0
	for done < len(p) {
		chunk := min(len(p)-done, len(*bp))
		copy(*bp, p[done:done+chunk])
		n, err := d.f.WriteAt((*bp)[:chunk], off+int64(done))
		done += n
		if err != nil {
			return done, d.wrapWrite(err, off+int64(done))
		}
	}
	return done, nil
}

// wrapWrite tells a write past the end of the device (the block layer's
// ENOSPC) from a pool out of data space (also ENOSPC, after the no-space
// timeout).
func (d *blockDev) wrapWrite(err error, at int64) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOSPC) {
		if size, serr := d.size(); serr == nil && at >= size {
			return &dm.Error{Op: opWrite, Device: d.name, Errno: unix.ENOSPC,
				Detail: fmt.Sprintf("write at %d beyond the end of the %d-byte device", at, size)}
		}
	}
	return d.wrapIO(opWrite, err)
}

func (d *blockDev) wrapIO(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return ioError(op, d.name, err)
}

// ioError turns an *os.PathError or errno into a *dm.Error.
func ioError(op, name string, err error) error {
	var no syscall.Errno
	if errors.As(err, &no) {
		return opError(op, name, no, false)
	}
	return &dm.Error{Op: op, Device: name, Detail: err.Error()}
}

// Flush is fsync: the block layer sends REQ_PREFLUSH, which makes a pool
// commit its metadata.
func (d *blockDev) Flush() error {
	return d.wrapIO(opFlush, d.f.Sync())
}

// Discard issues BLKDISCARD for [off, off+length).
func (d *blockDev) Discard(off, length int64) error {
	if err := d.checkAligned(opDiscard, off, int(length)); err != nil {
		return err
	}
	if length < 0 || length%dm.SectorSize != 0 {
		return &dm.Error{Op: opDiscard, Device: d.name, Kind: dm.ErrUnaligned, Errno: unix.EINVAL}
	}
	rng := [2]uint64{uint64(off), uint64(length)}
	err := d.ctl(func(fd uintptr) error {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, unix.BLKDISCARD, uintptr(unsafe.Pointer(&rng)))
		if errno != 0 {
			return errno
		}
		return nil
	})
	return d.wrapIO(opDiscard, err)
}

// Size is the device length (BLKGETSIZE64), read fresh each time because
// a reload can change it; 0 if the device cannot be asked.
func (d *blockDev) Size() int64 {
	n, err := d.size()
	if err != nil {
		return 0
	}
	return n
}

func (d *blockDev) size() (int64, error) {
	var n uint64
	err := d.ctl(func(fd uintptr) error {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&n)))
		if errno != 0 {
			return errno
		}
		return nil
	})
	return int64(n), err
}

// ctl runs fn on the raw descriptor without taking it out of the runtime
// poller (which os.File.Fd would do).
func (d *blockDev) ctl(fn func(fd uintptr) error) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var inner error
	if err := rc.Control(func(fd uintptr) { inner = fn(fd) }); err != nil {
		return err
	}
	return inner
}

func (d *blockDev) Close() error {
	if err := d.f.Close(); err != nil {
		return ioError("close", d.name, err)
	}
	return nil
}

// BlockDeviceSize returns the size in bytes of the block device at path
// (BLKGETSIZE64), e.g. a loop device whose sectors a table must cover.
func BlockDeviceSize(path string) (int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	var n uint64
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return 0, fmt.Errorf("BLKGETSIZE64 %s: %w", path, errno)
	}
	return int64(n), nil
}
