package thinpool

import (
	"context"
	"errors"
	"fmt"

	"github.com/thinraft/thinraft/dm"
)

// CreateThin records and executes the creation of thin id with a virtual
// size of sizeSectors. It is the library form of what the cluster does in two
// places (the leader's Begin, the agent's Execute).
func (p *Pool) CreateThin(ctx context.Context, id uint32, sizeSectors uint64) error {
	return p.beginAndExecute(ctx, Intent{Op: OpCreateThin, ThinID: id, SizeSectors: sizeSectors})
}

// Snapshot records and executes a thin snapshot id of origin. An active
// origin is suspended while the snapshot is taken and resumed on every path.
func (p *Pool) Snapshot(ctx context.Context, id, origin uint32) error {
	st, err := p.rec.Load(ctx)
	if err != nil {
		return fmt.Errorf("pool %s: %w", p.cfg.Name, err)
	}
	o, ok := st.Thins[origin]
	if !ok {
		return fmt.Errorf("pool %s: snapshot origin thin %d: %w: not in the record", p.cfg.Name, origin, ErrRefused)
	}
	return p.beginAndExecute(ctx, Intent{Op: OpSnapshot, ThinID: id, Origin: origin, SizeSectors: o.SizeSectors})
}

// Delete records and executes the deletion of thin id. Its device is
// deactivated first; an open device refuses the delete.
func (p *Pool) Delete(ctx context.Context, id uint32) error {
	return p.beginAndExecute(ctx, Intent{Op: OpDelete, ThinID: id})
}

func (p *Pool) beginAndExecute(ctx context.Context, in Intent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.quarantined) > 0 {
		return fmt.Errorf("pool %s: %w: %s", p.cfg.Name, ErrQuarantined, p.quarantined[0])
	}
	st, err := p.rec.Load(ctx)
	if err != nil {
		return fmt.Errorf("pool %s: %w", p.cfg.Name, err)
	}
	in.Pool = p.cfg.Name
	in.FromTxn = st.TxnID
	if in.ID == "" {
		in.ID = fmt.Sprintf("%s-%d", p.cfg.Name, in.ToTxn())
	}
	if err := p.rec.Begin(ctx, in); err != nil {
		return fmt.Errorf("pool %s: record intent %s: %w", p.cfg.Name, in, err)
	}
	return p.execute(ctx, in, false)
}

// ActivateThin makes thin id's device live with its recorded size and
// returns its dm name. Activating an active device is a no-op.
func (p *Pool) ActivateThin(ctx context.Context, id uint32) (string, error) {
	st, err := p.rec.Load(ctx)
	if err != nil {
		return "", fmt.Errorf("pool %s: %w", p.cfg.Name, err)
	}
	t, ok := st.Thins[id]
	if !ok {
		return "", fmt.Errorf("pool %s: thin %d is not in the record", p.cfg.Name, id)
	}
	name := p.ThinDMName(id)
	if info, err := p.ctl.Info(ctx, name); err == nil {
		if info.Suspended {
			if err := p.ctl.Resume(ctx, name); err != nil {
				return "", fmt.Errorf("pool %s: resume thin %d: %w", p.cfg.Name, id, err)
			}
		}
		return name, nil
	}
	table := dm.Table{dm.ThinParams{PoolDev: "/dev/mapper/" + p.DMName(), ID: id}.Target(t.SizeSectors)}
	if _, err := p.ctl.Create(ctx, name, dm.CreateOptions{Table: table}); err != nil {
		return "", fmt.Errorf("pool %s: activate thin %d: %w", p.cfg.Name, id, err)
	}
	return name, nil
}

// DeactivateThin removes thin id's device if it is active.
func (p *Pool) DeactivateThin(ctx context.Context, id uint32) error {
	return p.deactivateThin(ctx, id)
}

func (p *Pool) deactivateThin(ctx context.Context, id uint32) error {
	err := p.ctl.Remove(ctx, p.ThinDMName(id), dm.RemoveOptions{Retries: 5})
	if err != nil && !errors.Is(err, dm.ErrDeviceNotFound) {
		return fmt.Errorf("pool %s: deactivate thin %d: %w", p.cfg.Name, id, err)
	}
	return nil
}

// OpenThin opens thin id's device for IO, activating it if needed.
func (p *Pool) OpenThin(ctx context.Context, id uint32) (dm.BlockDevice, error) {
	name, err := p.ActivateThin(ctx, id)
	if err != nil {
		return nil, err
	}
	dev, err := p.ctl.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("pool %s: open thin %d: %w", p.cfg.Name, id, err)
	}
	return dev, nil
}

// ResizeThin records thin id's new virtual size and, if its device is
// active, reloads its table with the new length. Shrinking is refused: it
// would cut data off the end of the volume.
func (p *Pool) ResizeThin(ctx context.Context, id uint32, sizeSectors uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.quarantined) > 0 {
		return fmt.Errorf("pool %s: %w: %s", p.cfg.Name, ErrQuarantined, p.quarantined[0])
	}
	st, err := p.rec.Load(ctx)
	if err != nil {
		return fmt.Errorf("pool %s: %w", p.cfg.Name, err)
	}
	t, ok := st.Thins[id]
	switch {
	case !ok:
		return fmt.Errorf("pool %s: thin %d is not in the record", p.cfg.Name, id)
	case sizeSectors < t.SizeSectors:
		return fmt.Errorf("pool %s: thin %d: shrinking from %d to %d sectors would lose data; only growing is supported", p.cfg.Name, id, t.SizeSectors, sizeSectors)
	case sizeSectors == t.SizeSectors:
		return nil
	}
	if err := p.rec.SetThinSize(ctx, id, sizeSectors); err != nil {
		return fmt.Errorf("pool %s: record size of thin %d: %w", p.cfg.Name, id, err)
	}
	name := p.ThinDMName(id)
	if _, err := p.ctl.Info(ctx, name); err != nil {
		return nil // not active: the next activation uses the new size
	}
	table := dm.Table{dm.ThinParams{PoolDev: "/dev/mapper/" + p.DMName(), ID: id}.Target(sizeSectors)}
	if err := p.ctl.Load(ctx, name, table); err != nil {
		return fmt.Errorf("pool %s: reload thin %d: %w", p.cfg.Name, id, err)
	}
	if err := p.ctl.Resume(ctx, name); err != nil {
		return fmt.Errorf("pool %s: resume thin %d: %w", p.cfg.Name, id, err)
	}
	return nil
}
