package thinpool

import (
	"context"
	"errors"
	"fmt"

	"github.com/thinraft/thinraft/dm"
)

// ErrRefused: the operation was refused before the kernel was touched (no
// space under the reserve, origin missing, volume in use); the intent has
// been abandoned in the record with the same reason.
var ErrRefused = errors.New("operation refused")

// Execute carries out an intent the caller has already recorded with
// Record.Begin, with the transaction protocol:
//
//  1. check the kernel's transaction id: ToTxn means a crash came after
//     set_transaction_id, so only the record is behind: complete it;
//     FromTxn means go on; anything else quarantines the pool;
//  2. send the message (create_thin, create_snap with the origin suspended,
//     or delete); EEXIST on a create and ENODATA on a delete mean an earlier
//     attempt got this far, and count as done;
//  3. set_transaction_id FromTxn ToTxn;
//  4. Record.Complete.
//
// A refusal that no retry can fix (no space, missing origin, volume in use)
// abandons the intent and returns an error wrapping ErrRefused. Any other
// error leaves the intent pending for Reconcile to finish.
func (p *Pool) Execute(ctx context.Context, in Intent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.quarantined) > 0 {
		return fmt.Errorf("pool %s: %w: %s", p.cfg.Name, ErrQuarantined, p.quarantined[0])
	}
	return p.execute(ctx, in, false)
}

// execute runs the protocol; redo (from Reconcile) skips the space check,
// since an earlier attempt may already have created the device.
func (p *Pool) execute(ctx context.Context, in Intent, redo bool) error {
	if in.Pool != p.cfg.Name {
		return fmt.Errorf("pool %s: intent %s is for pool %s", p.cfg.Name, in, in.Pool)
	}
	ps, err := p.Status(ctx)
	if err != nil {
		return err
	}
	switch ps.TransactionID {
	case in.ToTxn():
		f, err := p.checkApplied(ctx, in, ps)
		if err != nil {
			return err
		}
		if f != nil {
			return p.quarantine(ctx, *f)
		}
		p.log.Info("kernel already at target transaction; completing record", "intent", in.String())
		return p.complete(ctx, in)
	case in.FromTxn:
	default:
		f := Finding{Pool: p.cfg.Name, Kind: FindingTxnDrift, ThinID: in.ThinID, KernelTxn: ps.TransactionID, RecordTxn: in.FromTxn,
			Detail: fmt.Sprintf("intent %s expects kernel transaction %d", in, in.FromTxn)}
		return p.quarantine(ctx, f)
	}
	if err := p.fp.hit(FPBeforeMessage); err != nil {
		return err
	}
	if err := p.apply(ctx, in, ps, redo); err != nil {
		if errors.Is(err, ErrRefused) {
			if aerr := p.rec.Abandon(ctx, in, err.Error()); aerr != nil {
				return fmt.Errorf("%w (and abandoning the intent failed: %v)", err, aerr)
			}
		}
		return err
	}
	if err := p.fp.hit(FPAfterMessage); err != nil {
		return err
	}
	if _, err := p.ctl.Message(ctx, p.DMName(), 0, dm.SetTransactionIDMsg(in.FromTxn, in.ToTxn())); err != nil {
		return fmt.Errorf("pool %s: %s: %w", p.cfg.Name, in, err)
	}
	if err := p.fp.hit(FPAfterSetTxn); err != nil {
		return err
	}
	return p.complete(ctx, in)
}

// checkApplied is the proof a roll forward needs: the kernel at in.ToTxn()
// must also show in's effect (the thin id present after a create or
// snapshot, absent after a delete). A transaction id moved by someone else
// looks the same from the status line alone, and completing the record
// then would acknowledge a volume that does not exist. It returns the
// finding when the effect is missing.
func (p *Pool) checkApplied(ctx context.Context, in Intent, ps dm.PoolStatus) (*Finding, error) {
	var exists bool
	err := p.withMetadata(ctx, true, func(d *dm.MetadataDump) error {
		exists = d.Device(in.ThinID) != nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	if exists == (in.Op != OpDelete) {
		return nil, nil
	}
	return &Finding{Pool: p.cfg.Name, Kind: FindingTxnDrift, ThinID: in.ThinID, KernelTxn: ps.TransactionID, RecordTxn: in.FromTxn,
		Detail: fmt.Sprintf("the kernel is at the transaction id of %s but thin %d is %s: something else moved the transaction id",
			in, in.ThinID, map[bool]string{true: "present", false: "absent"}[exists])}, nil
}

func (p *Pool) complete(ctx context.Context, in Intent) error {
	if err := p.rec.Complete(ctx, in); err != nil {
		return fmt.Errorf("pool %s: record completion of %s: %w", p.cfg.Name, in, err)
	}
	p.log.Info("transaction complete", "intent", in.String())
	return nil
}

// apply sends the intent's message. Redo after a crash is idempotent.
func (p *Pool) apply(ctx context.Context, in Intent, ps dm.PoolStatus, redo bool) error {
	switch in.Op {
	case OpCreateThin:
		if !redo {
			if err := p.checkReserve(ctx, ps, in); err != nil {
				return err
			}
		}
		return p.message(ctx, dm.CreateThinMsg(in.ThinID), dm.ErrThinIDExists)
	case OpSnapshot:
		if !redo {
			if err := p.checkReserve(ctx, ps, in); err != nil {
				return err
			}
		}
		return p.snapshot(ctx, in)
	case OpDelete:
		if err := p.deactivateThin(ctx, in.ThinID); err != nil {
			if errors.Is(err, dm.ErrDeviceBusy) {
				return fmt.Errorf("pool %s: delete thin %d: %w: the volume is in use; close it first", p.cfg.Name, in.ThinID, ErrRefused)
			}
			return err
		}
		return p.message(ctx, dm.DeleteMsg(in.ThinID), dm.ErrThinIDNotFound)
	default:
		return fmt.Errorf("pool %s: unknown op %q", p.cfg.Name, in.Op)
	}
}

// message sends msg; done is the error kind that means an earlier attempt
// already applied it.
func (p *Pool) message(ctx context.Context, msg string, done error) error {
	_, err := p.ctl.Message(ctx, p.DMName(), 0, msg)
	if err != nil && errors.Is(err, done) {
		p.log.Info("message already applied by an earlier attempt", "msg", msg)
		return nil
	}
	if err != nil {
		return fmt.Errorf("pool %s: %w", p.cfg.Name, err)
	}
	return nil
}

// snapshot takes create_snap with the origin suspended when it is active,
// and resumes it on every path.
func (p *Pool) snapshot(ctx context.Context, in Intent) (err error) {
	origin := p.ThinDMName(in.Origin)
	info, ierr := p.ctl.Info(ctx, origin)
	active := ierr == nil && info.LiveTable
	if ierr != nil && !errors.Is(ierr, dm.ErrDeviceNotFound) {
		return fmt.Errorf("pool %s: snapshot origin %d: %w", p.cfg.Name, in.Origin, ierr)
	}
	if active {
		if err := p.ctl.Suspend(ctx, origin, dm.SuspendOptions{}); err != nil {
			return fmt.Errorf("pool %s: suspend origin %d: %w", p.cfg.Name, in.Origin, err)
		}
		defer func() {
			// Resume even when the caller's context is gone: a suspended
			// origin blocks its users.
			if rerr := p.ctl.Resume(context.WithoutCancel(ctx), origin); rerr != nil {
				err = errors.Join(err, fmt.Errorf("pool %s: resume origin %d: %w", p.cfg.Name, in.Origin, rerr))
			}
		}()
		if err := p.fp.hit(FPSnapOriginSuspended); err != nil {
			return err
		}
	}
	err = p.message(ctx, dm.CreateSnapMsg(in.ThinID, in.Origin), dm.ErrThinIDExists)
	if errors.Is(err, dm.ErrThinIDNotFound) {
		return fmt.Errorf("pool %s: snapshot of thin %d: %w: the origin does not exist", p.cfg.Name, in.Origin, ErrRefused)
	}
	if err != nil {
		return err
	}
	if active {
		if err := p.fp.hit(FPSnapBeforeResume); err != nil {
			return err
		}
	}
	return nil
}

// quarantine records f, keeps the pool refusing changes, and returns an
// error naming it.
func (p *Pool) quarantine(ctx context.Context, f Finding) error {
	p.quarantined = append(p.quarantined, f)
	p.log.Error("pool quarantined", "finding", f.String())
	if err := p.rec.Quarantine(ctx, f); err != nil {
		return fmt.Errorf("pool %s: %w: %s (recording it failed: %v)", p.cfg.Name, ErrQuarantined, f, err)
	}
	return fmt.Errorf("pool %s: %w: %s", p.cfg.Name, ErrQuarantined, f)
}
