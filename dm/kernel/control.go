package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

// Default paths of the device-mapper control node and the named nodes.
const (
	DefaultControlPath = "/dev/mapper/control"
	DefaultDevDir      = "/dev/mapper"
	miscDevAttr        = "/sys/class/misc/device-mapper/dev"
)

// ErrNoDeviceMapper is returned by Open when this machine's kernel has no
// device-mapper (no /dev/mapper/control and no dm misc device).
var ErrNoDeviceMapper = errors.New("no device-mapper in this kernel")

// Control is dm.Control on the running kernel. It is safe for concurrent
// use; the kernel serialises operations on one device.
type Control struct {
	controlPath string
	devDir      string

	mu sync.RWMutex // guards fd against Close during an ioctl
	fd int
}

var _ dm.Control = (*Control)(nil)

// Open opens /dev/mapper/control and checks that the kernel speaks the DM
// ioctl interface major version 4.
func Open() (*Control, error) {
	c := &Control{controlPath: DefaultControlPath, devDir: DefaultDevDir, fd: -1}
	fd, err := openControlNode(c.controlPath)
	if err != nil {
		return nil, err
	}
	c.fd = fd
	if _, err := c.Version(context.Background()); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("device-mapper control %s: %w", c.controlPath, err)
	}
	return c, nil
}

// openControlNode opens the control node, creating it from sysfs when the
// module is loaded but nothing made the node (no devtmpfs, no udev).
func openControlNode(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
		// A node left by someone's mknod (lvm, a container image) while
		// the kernel has no device-mapper behind it.
		return -1, fmt.Errorf("%w: %s: %v", ErrNoDeviceMapper, path, err)
	}
	if !errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	attr, aerr := os.ReadFile(miscDevAttr)
	if aerr != nil {
		return -1, fmt.Errorf("%w: %s is missing and %s unreadable (is dm-mod loaded?)", ErrNoDeviceMapper, path, miscDevAttr)
	}
	maj, min, perr := parseMajorMinor(string(attr))
	if perr != nil {
		return -1, fmt.Errorf("%w: %s: %v", ErrNoDeviceMapper, miscDevAttr, perr)
	}
	if err := os.MkdirAll(dirOf(path), 0o755); err != nil {
		return -1, fmt.Errorf("create %s: %w", dirOf(path), err)
	}
	if err := unix.Mknod(path, unix.S_IFCHR|0o600, int(unix.Mkdev(maj, min))); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("mknod %s: %w", path, err)
	}
	fd, err = unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	return fd, nil
}

// parseMajorMinor parses sysfs's "MAJOR:MINOR\n".
func parseMajorMinor(s string) (uint32, uint32, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, 0, fmt.Errorf("want MAJOR:MINOR, got %q", s)
	}
	maj, err1 := strconv.ParseUint(a, 10, 32)
	min, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("want MAJOR:MINOR, got %q", s)
	}
	return uint32(maj), uint32(min), nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return "/"
}

// Close releases the control node. Devices stay as they are.
func (c *Control) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// DevPath returns the node path of a device name (/dev/mapper/NAME), the
// form thin and thin-pool tables use to name other devices.
func (c *Control) DevPath(name string) string { return c.devDir + "/" + name }

// ioctl issues one DM ioctl. With grow, a DM_BUFFER_FULL_FLAG answer is
// repeated with a buffer twice as large (only for commands without side
// effects).
func (c *Control) ioctl(cmd uintptr, r request, size int, grow bool) (*ioctlBuf, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.fd < 0 {
		return nil, errors.New("device-mapper control is closed")
	}
	return doIoctl(c.fd, cmd, r, size, grow)
}

func doIoctl(fd int, cmd uintptr, r request, size int, grow bool) (*ioctlBuf, error) {
	for {
		b, err := pack(r, size)
		if err != nil {
			return nil, err
		}
		var errno syscall.Errno
		for {
			_, _, errno = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), cmd, b.ptr())
			if errno != unix.EINTR {
				break
			}
		}
		runtime.KeepAlive(b)
		if errno != 0 {
			return b, errno
		}
		if grow && b.hdr().Flags&unix.DM_BUFFER_FULL_FLAG != 0 {
			if size >= maxBuf {
				return b, fmt.Errorf("kernel answer exceeds %d bytes", maxBuf)
			}
			size *= 2
			continue
		}
		return b, nil
	}
}

// Version returns the kernel's DM interface version and its targets,
// sorted by name.
func (c *Control) Version(ctx context.Context) (dm.Version, error) {
	if err := ctx.Err(); err != nil {
		return dm.Version{}, err
	}
	b, err := c.ioctl(unix.DM_VERSION, request{}, defaultBuf, false)
	if err != nil {
		return dm.Version{}, opError(opVersion, "", err, false)
	}
	v := dm.Version{Interface: b.hdr().Version}
	b, err = c.ioctl(unix.DM_LIST_VERSIONS, request{}, defaultBuf, true)
	if err != nil {
		return dm.Version{}, opError(opVersion, "", err, false)
	}
	data, err := b.outData()
	if err != nil {
		return dm.Version{}, opError(opVersion, "", err, false)
	}
	if v.Targets, err = unpackVersions(data); err != nil {
		return dm.Version{}, opError(opVersion, "", err, false)
	}
	sort.Slice(v.Targets, func(i, j int) bool { return v.Targets[i].Name < v.Targets[j].Name })
	return v, nil
}

// List returns every device-mapper device of the kernel, sorted by name.
func (c *Control) List(ctx context.Context) ([]dm.DeviceInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := c.ioctl(unix.DM_LIST_DEVICES, request{flags: unix.DM_UUID_FLAG}, defaultBuf, true)
	if err != nil {
		return nil, opError(opList, "", err, false)
	}
	data, err := b.outData()
	if err != nil {
		return nil, opError(opList, "", err, false)
	}
	entries, err := unpackNameList(data)
	if err != nil {
		return nil, opError(opList, "", err, false)
	}
	out := make([]dm.DeviceInfo, 0, len(entries))
	for _, e := range entries {
		info, err := c.Info(ctx, e.Name)
		if errors.Is(err, dm.ErrDeviceNotFound) {
			continue // removed since the list was taken
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Info returns one device's state (DM_DEV_STATUS).
func (c *Control) Info(ctx context.Context, name string) (dm.DeviceInfo, error) {
	if err := ctx.Err(); err != nil {
		return dm.DeviceInfo{}, err
	}
	b, err := c.ioctl(unix.DM_DEV_STATUS, request{name: name}, headerSize, false)
	if err != nil {
		return dm.DeviceInfo{}, opError(opInfo, name, err, false)
	}
	return infoFromHeader(b.hdr()), nil
}
