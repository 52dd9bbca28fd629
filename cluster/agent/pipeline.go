package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// Pipelining. With a depth of 2 or more, CompleteBatch queues the batch's
// completion and returns at once: the agent executes the next batch from
// the kernel's new transaction id while the completion is proposed. One
// goroutine per pool (started when there is work, gone when there is none)
// sends each queued completion at once, without waiting for the ones
// before it to commit (several may be in flight; the leader puts them in
// the log in transaction order: CompletionOrder, order.go), and the
// completions queued meanwhile as one intent_complete (they are
// contiguous: the head of the queue). The agent starts a batch only while
// fewer than depth are outstanding and their intents plus the new batch
// fit in MaxBatch, so a batch read from the replica after a failure always
// covers everything the kernel ran.
//
// A crash with completions outstanding leaves the kernel at T+j for a
// prefix j of the recorded queue, which Open's reconcile rolls forward
// with proof (thinpool.TestPipelinedBatchesRecover). A failed or refused
// completion drops every outstanding one; the pool's next step reports the
// failure (backoff) and the retry reads the replica's queue, whose prefix
// the kernel proves executed is completed by ExecuteBatch before anything
// else runs. Abandon and Quarantine first wait for the outstanding
// completions, so the log keeps the agent's order.

// DefaultPipeline is Config.Pipeline's default: one batch executing while
// the completion of the one before it is in flight. With completions sent
// one at a time it measured slower than no pipelining; with each sent at
// once (the leader ordering them) it measured 1-2 ms better at the p99 of
// the cluster bench's open loop (docs/bench-cluster.md).
const DefaultPipeline = 2

// errCompletionsDropped is the failure of a completion queued behind one
// that failed.
var errCompletionsDropped = errors.New("an earlier completion failed")

// enqueueCompletion queues batch's completion and makes sure the pool's
// completer runs.
func (r *Record) enqueueCompletion(ctx context.Context, batch []thinpool.Intent, started time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ahead = append(r.ahead, aheadCompletion{batch: batch, started: started})
	if !r.completing {
		r.completing = true
		r.idle = make(chan struct{})
		r.kick = make(chan struct{}, 1)
		go r.complete(context.WithoutCancel(ctx), r.idle, r.kick)
	} else {
		poke(r.kick)
	}
}

// poke wakes the completer without blocking.
func poke(kick chan struct{}) {
	select {
	case kick <- struct{}{}:
	default:
	}
}

// complete proposes each queued completion as soon as it is queued, without
// waiting for the one before it to commit: the leader queues a pool's
// completions in transaction order however they arrive (CompletionOrder),
// and raft keeps that order in the log. Completions
// queued while none could be sent go together as one. It ends, closing
// idle, once nothing is queued or in flight. A proposal is bounded by the
// record's timeout, not by the caller's context: an agent stopping between
// batches lets its last completion land.
func (r *Record) complete(ctx context.Context, idle, kick chan struct{}) {
	defer close(idle)
	for {
		r.mu.Lock()
		var batch []thinpool.Intent
		var firsts []string
		if r.failure == nil {
			for i := range r.ahead {
				if !r.ahead[i].committed && !r.ahead[i].inFlight {
					r.ahead[i].inFlight = true
					batch = append(batch, r.ahead[i].batch...)
					firsts = append(firsts, r.ahead[i].batch[0].ID)
				}
			}
		}
		if len(batch) == 0 && r.sending == 0 {
			r.completing = false
			r.mu.Unlock()
			return
		}
		if len(batch) > 0 {
			r.sending++
		}
		r.mu.Unlock()
		if len(batch) > 0 {
			go func() {
				res, err := r.proposeCompletion(ctx, batch)
				r.landed(firsts, res, err)
				poke(kick)
			}()
		}
		<-kick
	}
}

// landed records the end of the proposal carrying the completions whose
// first intents are ids. A success commits them and every completion
// before them (the FSM accepts a completion only from the pool's current
// transaction id, so one accepted means all before it were). A failure
// drops every completion not committed: the replica's queue, with the
// kernel ahead of it, is the truth again for thinpool's roll forward.
func (r *Record) landed(firsts []string, res *metadata.Result, err error) {
	r.mu.Lock()
	r.sending--
	if err != nil {
		if r.failure == nil {
			r.failure = fmt.Errorf("pool %s: pipelined completion from intent %s: %w", r.pool, firsts[0], err)
		}
		kept := r.ahead[:0]
		for _, ac := range r.ahead {
			if ac.committed {
				kept = append(kept, ac)
			}
		}
		r.ahead = kept
		r.mu.Unlock()
		r.notify()
		return
	}
	last := -1
	for i := range r.ahead {
		for _, id := range firsts {
			if r.ahead[i].batch[0].ID == id {
				last = i
			}
		}
	}
	var done []aheadCompletion
	for i := 0; i <= last; i++ {
		if !r.ahead[i].committed {
			r.ahead[i].committed, r.ahead[i].index = true, res.Index
			done = append(done, r.ahead[i])
		}
	}
	r.mu.Unlock()
	for _, ac := range done {
		r.tell(len(ac.batch), ac.started)
	}
	r.notify()
}

// proposeCompletion sends one intent_complete for batch and returns once
// it is committed and accepted (a refusal waits for the local replica).
func (r *Record) proposeCompletion(ctx context.Context, batch []thinpool.Intent) (*metadata.Result, error) {
	ids := make([]string, len(batch))
	for i, in := range batch {
		ids[i] = in.ID
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return proposeCommitted(ctx, r.fsm, r.prop, r.now(), metadata.CmdIntentComplete,
		metadata.IntentComplete{Pool: r.pool, FromTxn: batch[0].FromTxn, Intents: ids})
}

// waitIdle waits until the pool's completer has ended.
func (r *Record) waitIdle(ctx context.Context) error {
	r.mu.Lock()
	idle, busy := r.idle, r.completing
	r.mu.Unlock()
	if !busy {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pool %s: waiting for the outstanding completions: %w", r.pool, ctx.Err())
	}
}

// tell reports a committed batch to the agent's counters.
func (r *Record) tell(intents int, started time.Time) {
	if r.committed == nil {
		return
	}
	var took time.Duration
	if !started.IsZero() {
		took = time.Since(started)
	}
	r.committed(intents, took)
}

// startBatch marks the start of the batch the agent executes next.
func (r *Record) startBatch() { r.started = time.Now() }

// pipelined tells whether completions are proposed behind the next batch.
func (r *Record) pipelined() bool { return r.depth > 1 }

// notify wakes the agent's loop, if it asked to be.
func (r *Record) notify() {
	if r.wake != nil {
		r.wake()
	}
}

// Outstanding returns the completions not yet committed and the intents
// they carry.
func (r *Record) Outstanding() (batches, intents int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ac := range r.ahead {
		if !ac.committed {
			batches++
			intents += len(ac.batch)
		}
	}
	return batches, intents
}

// TakeFailure returns the failure of a pipelined completion since the last
// call, and forgets it.
func (r *Record) TakeFailure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.failure
	r.failure = nil
	return err
}

// Drain waits until no completion is outstanding. It returns the failure
// of the last one, if any, without forgetting it (the agent's next step
// reports it).
func (r *Record) Drain(ctx context.Context) error {
	if err := r.waitIdle(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failure != nil {
		return fmt.Errorf("pool %s: %w: %v", r.pool, errCompletionsDropped, r.failure)
	}
	return nil
}
