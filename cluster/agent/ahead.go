package agent

import (
	"time"

	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// aheadCompletion is a batch's completion the local replica has not
// applied yet: either committed (the leader applied it and answered), or,
// when pipelining (pipeline.go), executed in the kernel and queued or in
// flight to the leader. Until the replica applies it, the Record presents
// the pool as after it, so the next batch starts at once from the kernel's
// new transaction id.
//
// A committed one cannot be undone: a committed entry is applied on every
// replica in log order. One not yet committed is presented only while its
// proposal can still succeed; a failure drops it and every one after it,
// and the replica's queue (with the kernel ahead of it) is the truth again
// for thinpool's roll forward with proof.
type aheadCompletion struct {
	batch []thinpool.Intent
	// committed is set once the cluster accepted it; index is then its log
	// index, and a view at or past index has it.
	committed bool
	index     uint64
	// inFlight: the pipeline's proposal carrying it has been sent.
	inFlight bool
	// started is when the agent began the batch (for its counters).
	started time.Time
}

// pendingAhead returns the completions a view at index has not applied
// yet, in log order, and forgets the committed ones it has.
func (r *Record) pendingAhead(index uint64) []aheadCompletion {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(r.ahead) && r.ahead[n].committed && r.ahead[n].index <= index {
		n++
	}
	if n > 0 {
		r.ahead = append(r.ahead[:0:0], r.ahead[n:]...)
	}
	if len(r.ahead) == 0 {
		return nil
	}
	return append([]aheadCompletion(nil), r.ahead...)
}

// withoutAhead removes from queue the intents the ahead completions
// finished. The result is the replica's queue after them: completions take
// the queue's head in order.
func withoutAhead(queue []metadata.Intent, ahead []aheadCompletion) []metadata.Intent {
	if len(ahead) == 0 {
		return queue
	}
	done := map[string]bool{}
	for _, ac := range ahead {
		for _, in := range ac.batch {
			done[in.ID] = true
		}
	}
	out := queue[:0:0]
	for _, in := range queue {
		if !done[in.ID] {
			out = append(out, in)
		}
	}
	return out
}

// applyAhead adjusts a pool state built from a view that has not applied
// the ahead completions: the transaction id is the last one's, and their
// intents' effects on the thin set are applied in order. In such a view an
// id a pending delete names still belongs to the deleted volume (ids are
// reused only after the delete completed in the replica), and a pending
// create's id is absent (poolState leaves queued creates out).
func applyAhead(st *thinpool.PoolState, ahead []aheadCompletion) {
	for _, ac := range ahead {
		st.TxnID = max(st.TxnID, ac.batch[0].FromTxn+uint64(len(ac.batch)))
		for _, in := range ac.batch {
			if in.Op == thinpool.OpDelete {
				delete(st.Thins, in.ThinID)
				continue
			}
			st.Thins[in.ThinID] = thinpool.ThinRecord{ID: in.ThinID, SizeSectors: in.SizeSectors}
		}
	}
}
