package emu

import (
	"strings"
	"syscall"

	"github.com/thinraft/thinraft/dm"
)

// thinTarget is one thin table line (the kernel's struct thin_c).
type thinTarget struct {
	e          *Engine
	p          *pool
	owner      *device
	poolDev    *device
	id         uint32
	length     int64 // bytes
	origin     backing
	originSize int64
	dead       bool
}

// newThinTarget is thin_ctr, with its checks in the kernel's order.
func (e *Engine) newThinTarget(owner *device, t *tableInst, tg dm.Target) (target, error) {
	fail := func(errno syscall.Errno, detail string) error {
		return errf("load", owner.name, tg.Params, dm.ErrInvalidTable, errno, "thin: %s", detail)
	}
	f := strings.Fields(tg.Params)
	if len(f) != 2 && len(f) != 3 {
		return nil, fail(syscall.EINVAL, "Invalid argument count")
	}
	th := &thinTarget{e: e, owner: owner, length: int64(tg.Length) * dm.SectorSize}
	if len(f) == 3 {
		if f[0] == f[2] {
			return nil, fail(syscall.EINVAL, "Error setting origin device")
		}
		b, err := e.openBacking(owner, t, f[2], true)
		if err != nil {
			return nil, fail(syscall.ENODEV, "Error opening origin device")
		}
		th.origin = b
	}
	cleanup := func() {
		if th.origin != nil {
			th.origin.close()
		}
	}
	pd := e.resolveDevice(f[0])
	if pd == nil {
		cleanup()
		return nil, fail(syscall.ENODEV, "Error opening pool device")
	}
	if pd == owner {
		cleanup()
		return nil, fail(syscall.EINVAL, "Error opening pool device")
	}
	e.holdDevice(t, pd)
	params, err := dm.ParseThinParams(tg.Params)
	if err != nil {
		cleanup()
		return nil, fail(syscall.EINVAL, "Invalid device id")
	}
	var p *pool
	for _, q := range e.pools {
		if q.owner == pd {
			p = q
		}
	}
	if p == nil {
		cleanup()
		return nil, fail(syscall.EINVAL, "Couldn't find pool object")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == modeFail {
		cleanup()
		return nil, fail(syscall.EINVAL, "Couldn't open thin device, Pool is in fail mode")
	}
	if _, ok := p.md.devs[params.ID]; !ok {
		cleanup()
		return nil, fail(syscall.ENODATA, "Couldn't open thin internal device")
	}
	if p.suspended {
		cleanup()
		return nil, fail(syscall.EINVAL, "Unable to activate thin device while pool is suspended")
	}
	p.refs++
	p.openIDs[params.ID]++
	th.p, th.poolDev, th.id = p, pd, params.ID
	if th.origin != nil {
		th.originSize = th.origin.size()
	}
	return th, nil
}

func (t *thinTarget) kind() string { return dm.TargetThin }

func (t *thinTarget) params() string {
	s := sprintf("%s %d", devNum(t.poolDev), t.id)
	if t.origin != nil {
		s += " " + t.origin.name()
	}
	return s
}

// status is thin_status: mapped sectors and the highest mapped sector.
func (t *thinTarget) status(noFlush, suspended bool) string {
	p := t.p
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.mode == modeFail {
		return dm.ThinStatus{Fail: true}.String()
	}
	d := p.md.devs[t.id]
	if d == nil {
		return dm.ThinStatus{Error: true}.String()
	}
	s := dm.ThinStatus{MappedSectors: d.mapped * p.blockSectors}
	if hb, ok := d.highest(); ok {
		s.HasMapped, s.HighestMapped = true, (hb+1)*p.blockSectors-1
	}
	return s.String()
}

func (t *thinTarget) presuspend(noFlush bool)  {}
func (t *thinTarget) postsuspend(noFlush bool) {}

// preresume re-reads the external origin's size (thin_preresume).
func (t *thinTarget) preresume() error {
	if t.origin != nil {
		t.originSize = t.origin.size()
	}
	return nil
}

func (t *thinTarget) resume() {}

func (t *thinTarget) message(msg string) (string, error) {
	return "", errf("message", "", msg, dm.ErrBadMessage, syscall.EINVAL, "Target type does not support messages")
}

// destroy is thin_dtr.
func (t *thinTarget) destroy() {
	if t.dead {
		return
	}
	t.dead = true
	p := t.p
	p.mu.Lock()
	p.openIDs[t.id]--
	if p.openIDs[t.id] == 0 {
		delete(p.openIDs, t.id)
	}
	p.mu.Unlock()
	if t.origin != nil {
		t.origin.close()
	}
	t.e.poolDec(p)
}

func errIO(op string, errno syscall.Errno, detail string) error {
	kind := dm.ErrIO
	if errno == syscall.ENOSPC {
		kind = dm.ErrNoSpace
	}
	return &dm.Error{Op: op, Kind: kind, Errno: errno, Detail: detail}
}
