package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	loopControlPath = "/dev/loop-control"
	// loopAttachTries bounds the race with other processes that grab the
	// free loop device between LOOP_CTL_GET_FREE and the configure call.
	loopAttachTries = 16
)

// AttachLoop binds the file at path to a free loop device and returns the
// device path (/dev/loopN). Autoclear is off: the binding outlives this
// process and every opener until DetachLoop, like `losetup -f --show`.
func AttachLoop(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("attach loop %s: %w", path, err)
	}
	ffd, err := unix.Open(abs, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("attach loop: open backing file: %w", err)
	}
	defer unix.Close(ffd)
	cfd, err := unix.Open(loopControlPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("attach loop %s: %w", abs, err)
	}
	defer unix.Close(cfd)
	for attempt := 0; attempt < loopAttachTries; attempt++ {
		n, err := unix.IoctlRetInt(cfd, unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", fmt.Errorf("attach loop %s: LOOP_CTL_GET_FREE: %w", abs, err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		if err := ensureLoopNode(n, dev); err != nil {
			return "", fmt.Errorf("attach loop %s: %w", abs, err)
		}
		err = bindLoop(dev, ffd, abs)
		if errors.Is(err, unix.EBUSY) {
			continue // taken by someone else since GET_FREE
		}
		if err != nil {
			return "", fmt.Errorf("attach loop %s to %s: %w", abs, dev, err)
		}
		return dev, nil
	}
	return "", fmt.Errorf("attach loop %s: every free loop device was taken %d times in a row", abs, loopAttachTries)
}

// bindLoop configures dev over the backing fd: LOOP_CONFIGURE (5.8+) in
// one step, else LOOP_SET_FD + LOOP_SET_STATUS64.
func bindLoop(dev string, backing int, name string) error {
	lfd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(lfd)
	var info unix.LoopInfo64
	copy(info.File_name[:len(info.File_name)-1], name)
	cfg := unix.LoopConfig{Fd: uint32(backing), Info: info}
	err = unix.IoctlLoopConfigure(lfd, &cfg)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTTY) {
		return err
	}
	if err := unix.IoctlSetInt(lfd, unix.LOOP_SET_FD, backing); err != nil {
		return err
	}
	if err := unix.IoctlLoopSetStatus64(lfd, &info); err != nil {
		_ = unix.IoctlSetInt(lfd, unix.LOOP_CLR_FD, 0)
		return err
	}
	return nil
}

// ensureLoopNode creates /dev/loopN from sysfs when devtmpfs did not.
func ensureLoopNode(n int, dev string) error {
	if _, err := os.Stat(dev); err == nil {
		return nil
	}
	attr, err := os.ReadFile(fmt.Sprintf("/sys/block/loop%d/dev", n))
	if err != nil {
		return fmt.Errorf("%s missing and no sysfs entry: %w", dev, err)
	}
	maj, min, err := parseMajorMinor(string(attr))
	if err != nil {
		return err
	}
	if err := unix.Mknod(dev, unix.S_IFBLK|0o600, int(unix.Mkdev(maj, min))); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("mknod %s: %w", dev, err)
	}
	return nil
}

// DetachLoop unbinds a loop device (LOOP_CLR_FD). A device still open
// elsewhere (a dm table on it) is detached by the kernel when its last
// user closes it. Detaching an unbound device is not an error.
func DetachLoop(dev string) error {
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("detach loop %s: %w", dev, err)
	}
	defer unix.Close(fd)
	if err := unix.IoctlSetInt(fd, unix.LOOP_CLR_FD, 0); err != nil && !errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("detach loop %s: %w", dev, err)
	}
	return nil
}

// RefreshLoop makes a loop device pick up its backing file's new size
// (LOOP_SET_CAPACITY), after the file was grown.
func RefreshLoop(dev string) error {
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("refresh loop %s: %w", dev, err)
	}
	defer unix.Close(fd)
	if err := unix.IoctlSetInt(fd, unix.LOOP_SET_CAPACITY, 0); err != nil {
		return fmt.Errorf("refresh loop %s: %w", dev, err)
	}
	return nil
}

// LoopBackingFile returns the file a loop device is bound to, as the
// kernel recorded it at attach time.
func LoopBackingFile(dev string) (string, error) {
	name := filepath.Base(dev)
	b, err := os.ReadFile("/sys/block/" + name + "/loop/backing_file")
	if err != nil {
		return "", fmt.Errorf("loop %s: %w", dev, err)
	}
	return strings.TrimSpace(string(b)), nil
}
