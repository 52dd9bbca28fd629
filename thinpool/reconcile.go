package thinpool

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/thinraft/thinraft/dm"
)

// ReconcileReport says what Reconcile did and found.
type ReconcileReport struct {
	KernelTxn uint64
	RecordTxn uint64
	// Actions are the steps taken (roll forward, redo, roll back), in order.
	Actions []string
	// Findings are what could not be explained; the pool is quarantined
	// while there are any.
	Findings []Finding
}

// Reconcile compares the kernel pool (transaction id, and the thin ids in a
// fresh metadata snapshot) with the record and makes them agree where the
// record explains the difference:
//
//   - a pending intent with the kernel at ToTxn and the intent's effect
//     visible (the thin id present, or gone for a delete): the crash came
//     after set_transaction_id; roll the record forward;
//   - a pending intent with the kernel at FromTxn: redo it (Execute is
//     idempotent: EEXIST / ENODATA from an earlier attempt count as done);
//     if the redo is refused for good (origin gone, no space) the partial
//     effect, if any, is undone and the intent abandoned;
//   - no intent and equal transaction ids: compare thin-id sets.
//
// Anything else — a transaction id off by more than a pending intent
// explains, a thin id the record never had, a recorded thin id missing from
// the kernel — is quarantined and reported, never changed: reconcile does
// not delete data it does not know to be garbage.
func (p *Pool) Reconcile(ctx context.Context) (ReconcileReport, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.quarantined = nil
	var rep ReconcileReport
	defer func() { p.last = rep }()
	if err := p.resumeSuspendedThins(ctx, &rep); err != nil {
		return rep, err
	}
	st, err := p.rec.Load(ctx)
	if err != nil {
		return rep, fmt.Errorf("pool %s: reconcile: %w", p.cfg.Name, err)
	}
	ps, err := p.Status(ctx)
	if err != nil {
		return rep, err
	}
	rep.KernelTxn, rep.RecordTxn = ps.TransactionID, st.TxnID

	if len(st.Queue) > 1 {
		// A queue of several: complete the prefix the kernel proves was
		// executed (ExecuteBatch, by the owner of the queue, runs the rest).
		j, err := p.appliedPrefix(ctx, st.Queue, ps)
		if errors.Is(err, ErrQuarantined) {
			rep.Findings = append(rep.Findings, p.quarantined...)
			return rep, nil
		}
		if err != nil {
			return rep, err
		}
		if j > 0 {
			if err := p.completeBatch(ctx, st.Queue[:j]); err != nil {
				return rep, err
			}
			rep.Actions = append(rep.Actions, fmt.Sprintf("roll forward %d queued intents", j))
		}
		if st, err = p.rec.Load(ctx); err != nil {
			return rep, fmt.Errorf("pool %s: reconcile: %w", p.cfg.Name, err)
		}
		if ps, err = p.Status(ctx); err != nil {
			return rep, err
		}
	} else if in := st.Pending; in != nil {
		if err := p.settle(ctx, *in, ps, &rep); err != nil {
			return rep, err
		}
		if st, err = p.rec.Load(ctx); err != nil {
			return rep, fmt.Errorf("pool %s: reconcile: %w", p.cfg.Name, err)
		}
		if ps, err = p.Status(ctx); err != nil {
			return rep, err
		}
	}
	if len(rep.Findings) == 0 && ps.TransactionID != st.TxnID {
		rep.Findings = append(rep.Findings, Finding{Pool: p.cfg.Name, Kind: FindingTxnDrift,
			KernelTxn: ps.TransactionID, RecordTxn: st.TxnID,
			Detail: "no pending intent explains the difference"})
	}
	if len(rep.Findings) == 0 {
		if err := p.compareThins(ctx, st, ps, &rep); err != nil {
			return rep, err
		}
	}
	for _, f := range rep.Findings {
		_ = p.quarantine(ctx, f)
	}
	return rep, nil
}

// settle finishes or rolls back the pending intent in.
func (p *Pool) settle(ctx context.Context, in Intent, ps dm.PoolStatus, rep *ReconcileReport) error {
	switch ps.TransactionID {
	case in.ToTxn():
		f, err := p.checkApplied(ctx, in, ps)
		if err != nil {
			return err
		}
		if f != nil {
			rep.Findings = append(rep.Findings, *f)
			return nil
		}
		rep.Actions = append(rep.Actions, "roll forward "+in.String())
		return p.complete(ctx, in)
	case in.FromTxn:
		rep.Actions = append(rep.Actions, "redo "+in.String())
		err := p.execute(ctx, in, true)
		if err == nil || !errors.Is(err, ErrRefused) {
			return err
		}
		rep.Actions = append(rep.Actions, "rolled back "+in.String()+": "+err.Error())
		return nil
	default:
		rep.Findings = append(rep.Findings, Finding{Pool: p.cfg.Name, Kind: FindingTxnDrift, ThinID: in.ThinID,
			KernelTxn: ps.TransactionID, RecordTxn: in.FromTxn,
			Detail: fmt.Sprintf("pending intent %s cannot explain the kernel's transaction id", in)})
		return nil
	}
}

// compareThins checks the kernel's thin ids against the record's. It is
// called with p.mu held and returns with it held, but lets go of it while
// it reads the held metadata root: st and ps were read under the lock, and
// the root reserved under it shows the kernel as of that moment, so the
// comparison is of one instant, and batches need not wait for a read that
// takes time in proportion to the pool's devices (thin_dump of 33,000 thin
// devices on the kernel; a periodic reconcile stalled the pool's batches
// for as long).
func (p *Pool) compareThins(ctx context.Context, st PoolState, ps dm.PoolStatus, rep *ReconcileReport) error {
	kernel := map[uint32]bool{}
	unlocked := false
	d, err := p.acquireRoot(ctx, true, func() { p.mu.Unlock(); unlocked = true })
	if err == nil {
		for _, dev := range d.Devices {
			kernel[dev.ID] = true
		}
		p.releaseRoot(ctx)
	}
	if unlocked {
		p.mu.Lock()
	}
	if err != nil {
		return err
	}
	var ids []uint32
	for id := range kernel {
		ids = append(ids, id)
	}
	for id := range st.Thins {
		if !kernel[id] {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	// Ids of queued intents not yet executed may be either way: their
	// messages may have been sent before a crash, without the
	// set_transaction_id that would complete them. ExecuteBatch redoes them.
	inflight := map[uint32]bool{}
	for _, in := range st.Queue {
		inflight[in.ThinID] = true
	}
	for _, id := range ids {
		_, recorded := st.Thins[id]
		if inflight[id] {
			continue
		}
		switch {
		case kernel[id] && !recorded:
			rep.Findings = append(rep.Findings, Finding{Pool: p.cfg.Name, Kind: FindingUnknownThin, ThinID: id,
				KernelTxn: ps.TransactionID, RecordTxn: st.TxnID,
				Detail: "the kernel pool has a thin device the record does not know; left untouched"})
		case recorded && !kernel[id]:
			rep.Findings = append(rep.Findings, Finding{Pool: p.cfg.Name, Kind: FindingMissingThin, ThinID: id,
				KernelTxn: ps.TransactionID, RecordTxn: st.TxnID,
				Detail: "the record has a thin device the kernel pool lacks"})
		}
	}
	return nil
}

// resumeSuspendedThins resumes this pool's thin devices that a crash left
// suspended (a snapshot interrupted between suspend and resume). On the
// kernel they outlive the process; their users are blocked until resumed.
func (p *Pool) resumeSuspendedThins(ctx context.Context, rep *ReconcileReport) error {
	devs, err := p.ctl.List(ctx)
	if err != nil {
		return fmt.Errorf("pool %s: reconcile: %w", p.cfg.Name, err)
	}
	prefix := p.DMName() + "-"
	for _, d := range devs {
		if len(d.Name) <= len(prefix) || d.Name[:len(prefix)] != prefix {
			continue
		}
		info, err := p.ctl.Info(ctx, d.Name)
		if err != nil || !info.Suspended {
			continue
		}
		if err := p.ctl.Resume(ctx, d.Name); err != nil {
			return fmt.Errorf("pool %s: resume %s left suspended: %w", p.cfg.Name, d.Name, err)
		}
		rep.Actions = append(rep.Actions, "resumed "+d.Name)
	}
	return nil
}
