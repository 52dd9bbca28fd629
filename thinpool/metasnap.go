package thinpool

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/thinraft/thinraft/dm"
)

// heldRoot shares the pool's one metadata snapshot (the kernel allows one
// held root per pool) between concurrent readers: the first reader reserves
// it and reads the dump, later readers share that dump, the last one out
// releases it. A reader that needs a view no older than its own start
// (reconcile, usage after a change) asks for a fresh one and waits until the
// current readers are done.
type heldRoot struct {
	mu    sync.Mutex
	cond  *sync.Cond
	refs  int
	dump  *dm.MetadataDump
	stale bool // a fresh reader is waiting: no new sharers
}

func newHeldRoot() *heldRoot {
	h := &heldRoot{}
	h.cond = sync.NewCond(&h.mu)
	return h
}

// withMetadata runs fn on the pool's metadata as of a held root. fn must not
// keep the dump after it returns.
func (p *Pool) withMetadata(ctx context.Context, fresh bool, fn func(*dm.MetadataDump) error) error {
	d, err := p.acquireRoot(ctx, fresh, nil)
	if err != nil {
		return err
	}
	defer p.releaseRoot(ctx)
	return fn(d)
}

// acquireRoot returns the held root's dump, reserving and reading a new
// root when there is none to share (or fresh asks for one). reserved, if
// set, is called once a new root is reserved and before its dump is read:
// the view is fixed from then on, so a caller holding the pool's lock to
// pin the state the view must match can let go while the (long) read runs.
func (p *Pool) acquireRoot(ctx context.Context, fresh bool, reserved func()) (*dm.MetadataDump, error) {
	h := p.held
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.refs > 0 {
		if !fresh && !h.stale {
			h.refs++
			return h.dump, nil
		}
		if fresh {
			h.stale = true // no new sharers of the old view
		}
		h.cond.Wait()
	}
	h.stale = false
	reader, ok := p.ctl.(dm.MetadataReader)
	if !ok {
		return nil, fmt.Errorf("pool %s: this dm.Control cannot read pool metadata", p.cfg.Name)
	}
	if err := p.reserveRoot(ctx); err != nil {
		return nil, err
	}
	if reserved != nil {
		reserved()
	}
	d, err := reader.PoolMetadata(ctx, p.DMName(), true)
	if err != nil {
		p.releaseRootLocked(ctx)
		return nil, fmt.Errorf("pool %s: read held metadata root: %w", p.cfg.Name, err)
	}
	h.dump = d
	h.refs = 1
	return d, nil
}

// reserveRoot sends reserve_metadata_snap. A held root nobody in this
// process holds is left over from before a crash: release and retake it.
func (p *Pool) reserveRoot(ctx context.Context) error {
	_, err := p.ctl.Message(ctx, p.DMName(), 0, dm.MsgReserveMetadataSnap)
	if errors.Is(err, dm.ErrMetadataSnapHeld) {
		p.log.Warn("releasing a metadata snapshot left from before a restart")
		if _, err := p.ctl.Message(ctx, p.DMName(), 0, dm.MsgReleaseMetadataSnap); err != nil {
			return fmt.Errorf("pool %s: release stale metadata snapshot: %w", p.cfg.Name, err)
		}
		_, err = p.ctl.Message(ctx, p.DMName(), 0, dm.MsgReserveMetadataSnap)
	}
	if err != nil {
		return fmt.Errorf("pool %s: reserve metadata snapshot: %w", p.cfg.Name, err)
	}
	return nil
}

func (p *Pool) releaseRoot(ctx context.Context) {
	h := p.held
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refs--
	if h.refs == 0 {
		p.releaseRootLocked(ctx)
		h.dump = nil
		h.cond.Broadcast()
	}
}

func (p *Pool) releaseRootLocked(ctx context.Context) {
	if _, err := p.ctl.Message(context.WithoutCancel(ctx), p.DMName(), 0, dm.MsgReleaseMetadataSnap); err != nil {
		p.log.Error("release metadata snapshot", "err", err)
	}
}
