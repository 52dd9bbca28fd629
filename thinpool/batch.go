package thinpool

import (
	"context"
	"errors"
	"fmt"

	"github.com/thinraft/thinraft/dm"
)

// BatchCompleter is a Record that completes several queued intents in one
// durable step (the Raft record: one intent_complete command per batch).
// CompleteBatch applies batch, which is the head of the pool's queue in
// order, moving the recorded transaction id from batch[0].FromTxn to
// batch[0].FromTxn+len(batch). It must be idempotent like Complete.
type BatchCompleter interface {
	CompleteBatch(ctx context.Context, batch []Intent) error
}

// ExecuteBatch carries out the first len(batch) intents of the pool's queue
// as one kernel transaction: every message in order, then one
// set_transaction_id T T+k, then one CompleteBatch. The kernel allows the
// jump, and the queue fixes every intent's transaction ids in advance, so a
// crash anywhere leaves the kernel at T+j for a provable prefix j of the
// batch, which the next call (or Reconcile) completes before going on.
//
// An intent refused for good (ErrRefused: no space under the reserve,
// origin missing, volume in use) ends the batch there: the intents before it
// are executed and completed, it is abandoned in the record (which
// renumbers the ones after it), and the refusal is returned with done set
// to the number completed. Any other error leaves the batch pending.
func (p *Pool) ExecuteBatch(ctx context.Context, batch []Intent) (done int, err error) {
	if len(batch) == 0 {
		return 0, nil
	}
	for i, in := range batch {
		if in.Pool != p.cfg.Name || in.FromTxn != batch[0].FromTxn+uint64(i) {
			return 0, fmt.Errorf("pool %s: batch intent %d (%s) is not the next in the pool's queue", p.cfg.Name, i, in)
		}
	}
	if len(batch) > 1 {
		if _, ok := p.rec.(BatchCompleter); !ok {
			return 0, fmt.Errorf("pool %s: the record cannot complete batches; execute intents one at a time", p.cfg.Name)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.quarantined) > 0 {
		return 0, fmt.Errorf("pool %s: %w: %s", p.cfg.Name, ErrQuarantined, p.quarantined[0])
	}
	ps, err := p.Status(ctx)
	if err != nil {
		return 0, err
	}
	// The kernel may already be part of the way through: an earlier attempt
	// crashed after its set_transaction_id.
	applied, err := p.appliedPrefix(ctx, batch, ps)
	if err != nil {
		return 0, err
	}
	if applied > 0 {
		if err := p.completeBatch(ctx, batch[:applied]); err != nil {
			return 0, err
		}
		p.log.Info("completed a batch an earlier attempt executed", "intents", applied)
		done, batch = applied, batch[applied:]
		if len(batch) == 0 {
			return done, nil
		}
	}
	if err := p.fp.hit(FPBeforeMessage); err != nil {
		return done, err
	}
	var refused error
	for i, in := range batch {
		if err := p.apply(ctx, in, ps, false); err != nil {
			if !errors.Is(err, ErrRefused) {
				return done, err
			}
			refused = err
			if aerr := p.runBatch(ctx, batch[:i]); aerr != nil {
				return done, aerr
			}
			done += i
			if aerr := p.rec.Abandon(ctx, in, err.Error()); aerr != nil {
				return done, fmt.Errorf("%w (and abandoning the intent failed: %v)", err, aerr)
			}
			return done, refused
		}
	}
	if err := p.runBatch(ctx, batch); err != nil {
		return done, err
	}
	return done + len(batch), nil
}

// runBatch moves the kernel past batch (whose messages were sent) and
// completes it in the record.
func (p *Pool) runBatch(ctx context.Context, batch []Intent) error {
	if len(batch) == 0 {
		return nil
	}
	if err := p.fp.hit(FPAfterMessage); err != nil {
		return err
	}
	from := batch[0].FromTxn
	to := from + uint64(len(batch))
	if _, err := p.ctl.Message(ctx, p.DMName(), 0, dm.SetTransactionIDMsg(from, to)); err != nil {
		return fmt.Errorf("pool %s: batch of %d intents txn %d->%d: %w", p.cfg.Name, len(batch), from, to, err)
	}
	if err := p.fp.hit(FPAfterSetTxn); err != nil {
		return err
	}
	return p.completeBatch(ctx, batch)
}

func (p *Pool) completeBatch(ctx context.Context, batch []Intent) error {
	if bc, ok := p.rec.(BatchCompleter); ok && len(batch) > 1 {
		if err := bc.CompleteBatch(ctx, batch); err != nil {
			return fmt.Errorf("pool %s: record completion of a batch of %d: %w", p.cfg.Name, len(batch), err)
		}
		p.log.Info("batch complete", "intents", len(batch), "txn", batch[len(batch)-1].ToTxn())
		return nil
	}
	for _, in := range batch {
		if err := p.complete(ctx, in); err != nil {
			return err
		}
	}
	return nil
}

// appliedPrefix returns how many intents of batch the kernel's
// transaction id says were executed, after checking that the metadata shows
// their effects; a kernel transaction id the batch cannot explain, or
// effects that are missing, quarantine the pool.
func (p *Pool) appliedPrefix(ctx context.Context, batch []Intent, ps dm.PoolStatus) (int, error) {
	from := batch[0].FromTxn
	k := ps.TransactionID
	if k < from || k > from+uint64(len(batch)) {
		f := Finding{Pool: p.cfg.Name, Kind: FindingTxnDrift, ThinID: batch[0].ThinID, KernelTxn: k, RecordTxn: from,
			Detail: fmt.Sprintf("a batch of %d intents from transaction %d cannot explain the kernel's transaction id", len(batch), from)}
		return 0, p.quarantine(ctx, f)
	}
	j := int(k - from)
	if j == 0 {
		return 0, nil
	}
	// Replay the prefix's effects on the ids it touches and compare.
	want := map[uint32]bool{}
	for _, in := range batch[:j] {
		want[in.ThinID] = in.Op != OpDelete
	}
	var bad []uint32
	err := p.withMetadata(ctx, true, func(d *dm.MetadataDump) error {
		for id, present := range want {
			if (d.Device(id) != nil) != present {
				bad = append(bad, id)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(bad) > 0 {
		f := Finding{Pool: p.cfg.Name, Kind: FindingTxnDrift, ThinID: bad[0], KernelTxn: k, RecordTxn: from,
			Detail: fmt.Sprintf("the kernel is at transaction %d, %d intents into a batch, but thin ids %v do not show their effect: something else moved the transaction id", k, j, bad)}
		return 0, p.quarantine(ctx, f)
	}
	return j, nil
}
