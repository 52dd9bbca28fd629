package emu

import (
	"context"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/thinraft/thinraft/dm"
)

// Version reports the ioctl interface and target versions of the kernel the
// engine imitates (Linux 6.1: interface 4.47.0, thin-pool and thin 1.22.0).
func (e *Engine) Version(ctx context.Context) (dm.Version, error) {
	return dm.Version{Interface: [3]uint32{4, 47, 0}, Targets: []dm.TargetVersion{
		{Name: dm.TargetThinPool, Version: [3]uint32{1, 22, 0}},
		{Name: dm.TargetThin, Version: [3]uint32{1, 22, 0}},
		{Name: dm.TargetLinear, Version: [3]uint32{1, 4, 0}},
	}}, nil
}

// List returns every device, sorted by name.
func (e *Engine) List(ctx context.Context) ([]dm.DeviceInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errClosed
	}
	out := make([]dm.DeviceInfo, 0, len(e.devs))
	for _, d := range e.sortedDevs() {
		out = append(out, e.info(d))
	}
	return out, nil
}

// Info returns one device's state.
func (e *Engine) Info(ctx context.Context, name string) (dm.DeviceInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devs[name]
	if d == nil || e.closed {
		return dm.DeviceInfo{}, notFound("info", name)
	}
	return e.info(d), nil
}

// Create makes a device, loading and resuming opts.Table if given.
func (e *Engine) Create(ctx context.Context, name string, opts dm.CreateOptions) (dm.DeviceInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return dm.DeviceInfo{}, errClosed
	}
	if name == "" || len(name) >= 128 || strings.Contains(name, "/") {
		return dm.DeviceInfo{}, errf("create", name, "", nil, syscall.EINVAL, "invalid device name")
	}
	if e.devs[name] != nil {
		return dm.DeviceInfo{}, errf("create", name, "", dm.ErrDeviceExists, syscall.EBUSY, "")
	}
	if opts.UUID != "" {
		for _, o := range e.devs {
			if o.uuid == opts.UUID {
				return dm.DeviceInfo{}, errf("create", name, "", dm.ErrDeviceExists, syscall.EBUSY, "uuid %s in use by %s", opts.UUID, o.name)
			}
		}
	}
	d := newDevice(name, opts.UUID, e.nextMinor, opts.ReadOnly)
	e.nextMinor++
	e.devs[name] = d
	if len(opts.Table) > 0 {
		if err := e.loadLocked(d, opts.Table); err != nil {
			delete(e.devs, name)
			return dm.DeviceInfo{}, err
		}
		if err := e.resumeLocked(d); err != nil {
			e.teardown(d)
			return dm.DeviceInfo{}, err
		}
	}
	return e.info(d), nil
}

// Load constructs table and stages it as d's inactive table.
func (e *Engine) Load(ctx context.Context, name string, table dm.Table) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devs[name]
	if d == nil || e.closed {
		return notFound("load", name)
	}
	return e.loadLocked(d, table)
}

func (e *Engine) loadLocked(d *device, table dm.Table) error {
	t, err := e.buildTable(d, table)
	if err != nil {
		return err
	}
	if d.inactive != nil {
		d.inactive.destroy()
	}
	d.inactive = t
	return nil
}

// ClearInactive drops the staged table.
func (e *Engine) ClearInactive(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devs[name]
	if d == nil || e.closed {
		return notFound("clear", name)
	}
	d.inactive.destroy()
	d.inactive = nil
	return nil
}

// Suspend quiesces d.
func (e *Engine) Suspend(ctx context.Context, name string, opts dm.SuspendOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devs[name]
	if d == nil || e.closed {
		return notFound("suspend", name)
	}
	if d.suspended || d.live == nil {
		// dm core: suspending a suspended (or table-less) device is a no-op.
		d.suspended = d.suspended || d.live != nil
		return nil
	}
	return e.suspendLocked(d, opts.NoFlush)
}

func (e *Engine) suspendLocked(d *device, noFlush bool) error {
	for _, tt := range d.live.targets {
		tt.t.presuspend(noFlush)
	}
	// IO in flight finishes either way; what NoFlush changes is that the
	// targets do not flush (the pool does not commit).
	e.mu.Unlock()
	d.gate.close(true)
	e.mu.Lock()
	for _, tt := range d.live.targets {
		tt.t.postsuspend(noFlush)
	}
	d.suspended = true
	return nil
}

// Resume swaps in the staged table (if any) and restarts IO.
func (e *Engine) Resume(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devs[name]
	if d == nil || e.closed {
		return notFound("resume", name)
	}
	return e.resumeLocked(d)
}

func (e *Engine) resumeLocked(d *device) error {
	var old *tableInst
	if d.inactive != nil {
		if d.live != nil && !d.suspended {
			if err := e.suspendLocked(d, false); err != nil {
				return err
			}
		}
		old = d.live
		d.live, d.inactive = d.inactive, nil
		d.size.Store(int64(d.live.size()) * dm.SectorSize)
		d.suspended = true
	}
	if d.live == nil {
		return errf("resume", d.name, "", dm.ErrNoTable, syscall.EINVAL, "device has no table")
	}
	var err error
	if d.suspended {
		for _, tt := range d.live.targets {
			if err = tt.t.preresume(); err != nil {
				break
			}
		}
		if err == nil {
			for _, tt := range d.live.targets {
				tt.t.resume()
			}
			d.suspended = false
			d.gate.open()
		}
	}
	old.destroy()
	if err != nil {
		if de, ok := err.(*dm.Error); ok {
			de.Op, de.Device = "resume", d.name
			return de
		}
		return errf("resume", d.name, "", nil, syscall.EINVAL, "%v", err)
	}
	return nil
}

// Remove deletes a device; an open or referenced device is EBUSY, retried
// opts.Retries times.
func (e *Engine) Remove(ctx context.Context, name string, opts dm.RemoveOptions) error {
	delay := opts.RetryDelay
	if delay <= 0 {
		delay = 100 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		err := e.removeOnce(name)
		if err == nil || !isBusy(err) || attempt >= opts.Retries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

func isBusy(err error) bool { return dm.Errno(err) == syscall.EBUSY }

func (e *Engine) removeOnce(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devs[name]
	if d == nil || e.closed {
		return notFound("remove", name)
	}
	if d.opens > 0 {
		return errf("remove", name, "", dm.ErrDeviceBusy, syscall.EBUSY, "device is open (%d)", d.opens)
	}
	return e.teardown(d)
}

// Message sends a target message to the target at sector.
func (e *Engine) Message(ctx context.Context, name string, sector uint64, msg string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devs[name]
	if d == nil || e.closed {
		return "", notFound("message", name)
	}
	if len(strings.Fields(msg)) == 0 {
		return "", errf("message", name, msg, dm.ErrBadMessage, syscall.EINVAL, "Empty message received.")
	}
	if d.live == nil {
		return "", errf("message", name, msg, dm.ErrNoTable, syscall.EINVAL, "The device has no table.")
	}
	tt, ok := d.live.find(sector)
	if !ok {
		return "", errf("message", name, msg, nil, syscall.EINVAL, "Target message sector outside device.")
	}
	out, err := tt.t.message(msg)
	if err != nil {
		if de, ok := err.(*dm.Error); ok {
			de.Device = name
		}
		return "", err
	}
	return out, nil
}

// Status returns the live table's status lines.
func (e *Engine) Status(ctx context.Context, name string, opts dm.StatusOptions) ([]dm.TargetStatus, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devs[name]
	if d == nil || e.closed {
		return nil, notFound("status", name)
	}
	if d.live == nil {
		return nil, nil
	}
	out := make([]dm.TargetStatus, 0, len(d.live.targets))
	for _, tt := range d.live.targets {
		out = append(out, dm.TargetStatus{Start: tt.start, Length: tt.length, Type: tt.t.kind(),
			Params: tt.t.status(opts.NoFlush, d.suspended)})
	}
	return out, nil
}

// Table returns the live (or staged) table as the kernel reports it.
func (e *Engine) Table(ctx context.Context, name string, opts dm.TableOptions) (dm.Table, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devs[name]
	if d == nil || e.closed {
		return nil, notFound("table", name)
	}
	t := d.live
	if opts.Inactive {
		t = d.inactive
	}
	if t == nil {
		return nil, nil
	}
	out := make(dm.Table, 0, len(t.targets))
	for _, tt := range t.targets {
		out = append(out, dm.Target{Start: tt.start, Length: tt.length, Type: tt.t.kind(), Params: tt.t.params()})
	}
	return out, nil
}

// WaitEvent blocks until d's event counter differs from afterEvent.
func (e *Engine) WaitEvent(ctx context.Context, name string, afterEvent uint32) (uint32, error) {
	e.mu.Lock()
	d := e.devs[name]
	e.mu.Unlock()
	if d == nil {
		return 0, notFound("wait", name)
	}
	for {
		nr, ch := d.events()
		if nr != afterEvent {
			return nr, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nr, ctx.Err()
		}
	}
}

// buildTable runs the target constructors for table on device d.
func (e *Engine) buildTable(d *device, table dm.Table) (*tableInst, error) {
	if len(table) == 0 {
		return nil, errf("load", d.name, "", dm.ErrInvalidTable, syscall.EINVAL, "empty table")
	}
	sorted := append(dm.Table(nil), table...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	t := &tableInst{spec: sorted}
	var next uint64
	for _, tg := range sorted {
		if tg.Start != next || tg.Length == 0 {
			t.destroy()
			return nil, errf("load", d.name, tg.String(), dm.ErrInvalidTable, syscall.EINVAL, "gap or overlap in table")
		}
		next += tg.Length
		if tg.Type == dm.TargetThinPool && len(sorted) > 1 {
			t.destroy()
			return nil, errf("load", d.name, tg.String(), dm.ErrInvalidTable, syscall.EINVAL, "thin-pool: singleton target type must appear alone in table")
		}
		var tgt target
		var err error
		switch tg.Type {
		case dm.TargetLinear:
			tgt, err = e.newLinear(d, t, tg)
		case dm.TargetThinPool:
			tgt, err = e.newPoolTarget(d, t, tg)
		case dm.TargetThin:
			tgt, err = e.newThinTarget(d, t, tg)
		default:
			err = errf("load", d.name, tg.String(), dm.ErrInvalidTable, syscall.EINVAL, "unknown target type %q", tg.Type)
		}
		if err != nil {
			t.destroy()
			if de, ok := err.(*dm.Error); ok {
				de.Op, de.Device = "load", d.name
				if de.Kind == nil {
					de.Kind = dm.ErrInvalidTable
				}
			}
			return nil, err
		}
		t.targets = append(t.targets, tableTarget{start: tg.Start, length: tg.Length, t: tgt})
	}
	return t, nil
}

// holdDevice records that table t references device ref (dm_get_device).
func (e *Engine) holdDevice(t *tableInst, dev *device) {
	dev.opens++
	t.deps = append(t.deps, dev)
}
