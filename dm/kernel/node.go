package kernel

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

// ensureNode makes /dev/mapper/NAME a block node for dev unless something
// (udev, an earlier call) already provides it. A stale block node left by
// a removed device of the same name is replaced; a symlink (udev's form)
// is left alone.
func (c *Control) ensureNode(name string, dev uint64) error {
	if dev == 0 {
		return nil
	}
	path := c.DevPath(name)
	maj, min := devNumbers(dev)
	want := unix.Mkdev(maj, min)
	for attempt := 0; attempt < 3; attempt++ {
		var st unix.Stat_t
		err := unix.Lstat(path, &st)
		switch {
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
			return nil
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == want:
			return nil
		case err == nil:
			if rerr := unix.Unlink(path); rerr != nil && !errors.Is(rerr, unix.ENOENT) {
				return &dm.Error{Op: opMknod, Device: name, Detail: fmt.Sprintf("remove stale %s: %v", path, rerr)}
			}
			continue
		case !errors.Is(err, unix.ENOENT):
			return &dm.Error{Op: opMknod, Device: name, Detail: fmt.Sprintf("stat %s: %v", path, err)}
		}
		if err := os.MkdirAll(c.devDir, 0o755); err != nil {
			return &dm.Error{Op: opMknod, Device: name, Detail: err.Error()}
		}
		err = unix.Mknod(path, unix.S_IFBLK|0o600, int(want))
		if err == nil || errors.Is(err, unix.EEXIST) {
			continue // verify what is there now
		}
		return &dm.Error{Op: opMknod, Device: name, Detail: fmt.Sprintf("mknod %s %d:%d: %v", path, maj, min, err)}
	}
	return &dm.Error{Op: opMknod, Device: name, Detail: fmt.Sprintf("%s keeps changing under us", path)}
}

// removeNode deletes /dev/mapper/NAME if it is a block node of dev (the
// one ensureNode made); anything else is not ours to delete.
func (c *Control) removeNode(name string, dev uint64) {
	path := c.DevPath(name)
	maj, min := devNumbers(dev)
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == unix.Mkdev(maj, min) {
		_ = unix.Unlink(path)
	}
}
