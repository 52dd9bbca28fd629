package agent

import (
	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// aheadCompletion is an intent_complete the cluster committed (the leader
// applied it and answered) that the local replica may not have applied yet.
// Until it has, the Record presents the pool as after it: on a follower the
// next batch starts as soon as the completion is decided in Raft, not after
// this node learns of the commit. The completion cannot be undone: a
// committed entry is applied on every replica in log order.
type aheadCompletion struct {
	// index is the completion's log index; a view at or past it has it.
	index   uint64
	toTxn   uint64
	intents map[string]bool
	// deleted are the volumes whose thin device the completion deleted.
	deleted map[deletedThin]bool
}

// deletedThin names a deleted thin device by volume as well as id: an id
// is reused only after its delete completed in the replica, and a reused id
// belongs to another volume.
type deletedThin struct {
	volume string
	thin   uint32
}

func newAheadCompletion(index uint64, batch []thinpool.Intent, queue []metadata.Intent) aheadCompletion {
	ac := aheadCompletion{index: index, toTxn: batch[0].FromTxn + uint64(len(batch)),
		intents: make(map[string]bool, len(batch)), deleted: map[deletedThin]bool{}}
	for _, in := range batch {
		ac.intents[in.ID] = true
	}
	for _, in := range queue {
		if ac.intents[in.ID] && in.Op == metadata.OpDelete {
			ac.deleted[deletedThin{volume: in.Volume, thin: in.ThinID}] = true
		}
	}
	return ac
}

// pendingAhead returns the completions a view at index has not applied
// yet, in log order, and forgets the ones it has.
func (r *Record) pendingAhead(index uint64) []aheadCompletion {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(r.ahead) && r.ahead[n].index <= index {
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

// rememberAhead records a committed completion.
func (r *Record) rememberAhead(ac aheadCompletion) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ahead = append(r.ahead, ac)
}

// withoutAhead removes from queue the intents the ahead completions
// finished. The result is the replica's queue after them: completions take
// the queue's head in order.
func withoutAhead(queue []metadata.Intent, ahead []aheadCompletion) []metadata.Intent {
	if len(ahead) == 0 {
		return queue
	}
	out := queue[:0:0]
	for _, in := range queue {
		done := false
		for _, ac := range ahead {
			if ac.intents[in.ID] {
				done = true
				break
			}
		}
		if !done {
			out = append(out, in)
		}
	}
	return out
}

// applyAhead adjusts a pool state built from a lagging view: the
// transaction id is the last completion's, and volumes deleted by them are
// gone. Created thin ids need nothing: withoutAhead took their intents out
// of the queue, so poolState already counts them as present.
func applyAhead(st *thinpool.PoolState, vols []metadata.Volume, ahead []aheadCompletion) {
	for _, ac := range ahead {
		st.TxnID = max(st.TxnID, ac.toTxn)
		if len(ac.deleted) == 0 {
			continue
		}
		for _, vol := range vols {
			if ac.deleted[deletedThin{volume: vol.UUID, thin: vol.ThinID}] {
				delete(st.Thins, vol.ThinID)
			}
		}
	}
}
