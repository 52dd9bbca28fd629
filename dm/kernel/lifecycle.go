package kernel

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

const defaultRemoveRetryDelay = 100 * time.Millisecond

// Create makes a device (DM_DEV_CREATE) and its /dev/mapper node; with a
// table it loads and resumes it, removing the device again if either step
// fails, as `dmsetup create --table` does.
func (c *Control) Create(ctx context.Context, name string, opts dm.CreateOptions) (dm.DeviceInfo, error) {
	if err := ctx.Err(); err != nil {
		return dm.DeviceInfo{}, err
	}
	b, err := c.ioctl(unix.DM_DEV_CREATE, request{name: name, uuid: opts.UUID}, headerSize, false)
	if err != nil {
		return dm.DeviceInfo{}, opError(opCreate, name, err, false)
	}
	info := infoFromHeader(b.hdr())
	if err := c.ensureNode(name, b.hdr().Dev); err != nil {
		c.undoCreate(name)
		return dm.DeviceInfo{}, err
	}
	if len(opts.Table) == 0 {
		return info, nil
	}
	if err := c.load(name, opts.Table, opts.ReadOnly); err != nil {
		c.undoCreate(name)
		return dm.DeviceInfo{}, err
	}
	if err := c.Resume(ctx, name); err != nil {
		c.undoCreate(name)
		return dm.DeviceInfo{}, err
	}
	return c.Info(ctx, name)
}

// undoCreate removes a half-made device. Nothing can have opened it yet,
// so one attempt with a short retry suffices; the caller reports the
// original error.
func (c *Control) undoCreate(name string) {
	_ = c.Remove(context.Background(), name, dm.RemoveOptions{Retries: 3, RetryDelay: 20 * time.Millisecond})
}

// Load stages a table in the inactive slot (DM_TABLE_LOAD).
func (c *Control) Load(ctx context.Context, name string, table dm.Table) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.load(name, table, false)
}

func (c *Control) load(name string, table dm.Table, readOnly bool) error {
	payload, err := packTable(table)
	if err != nil {
		return &dm.Error{Op: opLoad, Device: name, Kind: dm.ErrInvalidTable, Errno: unix.EINVAL, Detail: err.Error()}
	}
	var flags uint32
	if readOnly {
		flags |= unix.DM_READONLY_FLAG
	}
	r := request{name: name, flags: flags, targetCount: uint32(len(table)), payload: payload}
	if _, err := c.ioctl(unix.DM_TABLE_LOAD, r, headerSize+len(payload), false); err != nil {
		return opError(opLoad, name, err, false)
	}
	return nil
}

// ClearInactive drops the staged table (DM_TABLE_CLEAR).
func (c *Control) ClearInactive(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := c.ioctl(unix.DM_TABLE_CLEAR, request{name: name}, headerSize, false); err != nil {
		return opError(opClear, name, err, false)
	}
	return nil
}

// Suspend quiesces the device (DM_DEV_SUSPEND with DM_SUSPEND_FLAG).
func (c *Control) Suspend(ctx context.Context, name string, opts dm.SuspendOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	flags := uint32(unix.DM_SUSPEND_FLAG)
	if opts.NoFlush {
		flags |= unix.DM_NOFLUSH_FLAG
	}
	if _, err := c.ioctl(unix.DM_DEV_SUSPEND, request{name: name, flags: flags}, headerSize, false); err != nil {
		return opError(opSuspend, name, err, false)
	}
	return nil
}

// Resume swaps in a staged table and restarts IO (DM_DEV_SUSPEND without
// DM_SUSPEND_FLAG).
func (c *Control) Resume(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := c.ioctl(unix.DM_DEV_SUSPEND, request{name: name}, headerSize, false); err != nil {
		// A failed preresume leaves the new table live and the device
		// suspended; a thin-pool's preresume fails with EINVAL only
		// when the data device is smaller than the metadata records.
		poolLive := errors.Is(err, unix.EINVAL) && c.liveHasTarget(name, dm.TargetThinPool)
		return opError(opResume, name, err, poolLive)
	}
	return nil
}

// liveHasTarget reports whether the live table has a target of type typ.
func (c *Control) liveHasTarget(name, typ string) bool {
	specs, err := c.tableStatus(name, unix.DM_STATUS_TABLE_FLAG)
	if err != nil {
		return false
	}
	for _, s := range specs {
		if s.Type == typ {
			return true
		}
	}
	return false
}

// Remove deletes the device (DM_DEV_REMOVE), retrying EBUSY as opts says,
// and removes the /dev/mapper node Create made.
func (c *Control) Remove(ctx context.Context, name string, opts dm.RemoveOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var dev uint64
	if b, err := c.ioctl(unix.DM_DEV_STATUS, request{name: name}, headerSize, false); err == nil {
		dev = b.hdr().Dev
	}
	delay := opts.RetryDelay
	if delay <= 0 {
		delay = defaultRemoveRetryDelay
	}
	for attempt := 0; ; attempt++ {
		_, err := c.ioctl(unix.DM_DEV_REMOVE, request{name: name}, headerSize, false)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EBUSY) || attempt >= opts.Retries {
			return opError(opRemove, name, err, false)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return opError(opRemove, name, err, false)
		case <-t.C:
		}
	}
	if dev != 0 {
		c.removeNode(name, dev)
	}
	return nil
}
