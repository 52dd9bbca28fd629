package metadata

import (
	"fmt"
	"slices"
	"time"
)

// The intent queue of a pool. Invariant: pe.queue[i].FromTxn ==
// pe.pool.TxnID + i for every pending intent, so the transaction id an
// intent will move the kernel to is known when it is queued, and a batch of
// the first k intents moves the kernel from TxnID to TxnID+k.

// enqueue appends a pending intent to pe's queue.
func (s *state) enqueue(c *applyCtx, pe *poolEntry, in Intent) *Intent {
	in.ID = c.intentID()
	in.Pool = pe.pool.UUID
	in.State = IntentPending
	in.CreatedAt = c.at
	in.FromTxn = pe.pool.TxnID + uint64(len(pe.queue))
	p := &in
	pe.queue = append(pe.queue, p)
	s.intents[p.ID] = p
	return p
}

// finish ends an intent and keeps it in the bounded history.
func (s *state) finish(in *Intent, st IntentState, reason string, at time.Time, batch uint64) {
	in.State, in.Reason, in.FinishedAt, in.Batch = st, reason, at, batch
	s.finished = append(s.finished, in.ID)
	for len(s.finished) > s.historyCap {
		delete(s.intents, s.finished[0])
		s.finished[0] = ""
		s.finished = s.finished[1:]
	}
}

func (s *state) intentComplete(c *applyCtx, p IntentComplete) *Result {
	pe, err := s.resolvePool("", p.Pool)
	if err != nil {
		return &Result{Err: err}
	}
	k := len(p.Intents)
	if k == 0 {
		return &Result{Err: errf(CodeInvalid, "a completion names at least one intent")}
	}
	if r := s.repeatedCompletion(pe, p); r != nil {
		return r
	}
	pl := pe.pool
	if p.FromTxn != pl.TxnID {
		return &Result{Err: errf(CodeConflict, "pool %s/%s is at transaction %d, the completion starts at %d", pl.VG, pl.Name, pl.TxnID, p.FromTxn)}
	}
	if k > len(pe.queue) {
		return &Result{Err: errf(CodeConflict, "pool %s/%s has %d pending intent(s), the completion names %d", pl.VG, pl.Name, len(pe.queue), k)}
	}
	for i, id := range p.Intents {
		if pe.queue[i].ID != id {
			return &Result{Err: errf(CodeConflict, "intent %s is not at position %d of pool %s/%s's queue (%s is): completions arrive in order",
				id, i, pl.VG, pl.Name, pe.queue[i].ID)}
		}
	}
	pl.LastBatch++
	batch := pl.LastBatch
	done := pe.queue[:k]
	for _, in := range done {
		s.applyDone(c, pe, in)
		s.finish(in, IntentDone, "", c.at, batch)
	}
	clear(done)
	pe.queue = pe.queue[k:]
	pl.TxnID += uint64(k)
	pl.UpdatedAt = c.at
	return &Result{UUID: pl.UUID, Intents: slices.Clone(p.Intents), Batch: batch}
}

// repeatedCompletion recognises a completion that was already applied (an
// agent retrying after losing the response) and answers it without
// changing anything.
func (s *state) repeatedCompletion(pe *poolEntry, p IntentComplete) *Result {
	first := s.intents[p.Intents[0]]
	if first == nil || first.State != IntentDone || first.Pool != pe.pool.UUID || first.FromTxn != p.FromTxn {
		return nil
	}
	for i, id := range p.Intents {
		in := s.intents[id]
		if in == nil || in.State != IntentDone || in.Batch != first.Batch || in.FromTxn != p.FromTxn+uint64(i) {
			return &Result{Err: errf(CodeConflict, "intent %s was completed, but %s does not belong to the same batch", p.Intents[0], id)}
		}
	}
	return &Result{UUID: pe.pool.UUID, Intents: slices.Clone(p.Intents), Batch: first.Batch, Already: true}
}

// applyDone makes a completed intent's effect part of the model.
func (s *state) applyDone(c *applyCtx, pe *poolEntry, in *Intent) {
	v := s.volumes.get(in.Volume)
	switch in.Op {
	case OpCreateThin, OpCreateSnap:
		if v == nil {
			return
		}
		if in.Revert {
			v.ThinID, v.SizeBytes = in.ThinID, in.SizeBytes
		}
		v.State, v.Reason, v.UpdatedAt = VolumeActive, "", c.at
	case OpDelete:
		if in.Revert {
			delete(pe.thins, in.ThinID)
			if v != nil {
				v.ThinID, v.UpdatedAt = 0, c.at
			}
			return
		}
		if v != nil {
			s.removeVolume(v)
		}
		delete(pe.thins, in.ThinID)
	}
}

func (s *state) intentAbandon(c *applyCtx, p IntentAbandon) *Result {
	pe, err := s.resolvePool("", p.Pool)
	if err != nil {
		return &Result{Err: err}
	}
	if len(p.Intents) == 0 {
		return &Result{Err: errf(CodeInvalid, "an abandon names at least one intent")}
	}
	if p.Reason == "" {
		return &Result{Err: errf(CodeInvalid, "an abandon needs a reason")}
	}
	reason := map[string]string{}
	already := 0
	for _, id := range p.Intents {
		in := s.intents[id]
		switch {
		case in == nil || in.Pool != pe.pool.UUID:
			return &Result{Err: errf(CodeNotFound, "intent %s not found in pool %s", id, pe.pool.UUID)}
		case in.State == IntentDone:
			return &Result{Err: errf(CodeConflict, "intent %s is already done", id)}
		case in.State == IntentAbandoned:
			already++
		default:
			reason[id] = p.Reason
		}
	}
	if already == len(p.Intents) {
		return &Result{UUID: pe.pool.UUID, Intents: slices.Clone(p.Intents), Already: true}
	}
	s.closeAbandon(pe, reason)
	var out []string
	kept := pe.queue[:0]
	for _, in := range pe.queue {
		r, ok := reason[in.ID]
		if !ok {
			kept = append(kept, in)
			continue
		}
		s.applyAbandoned(c, pe, in, r)
		s.finish(in, IntentAbandoned, r, c.at, 0)
		out = append(out, in.ID)
	}
	clear(pe.queue[len(kept):])
	pe.queue = kept
	for i, in := range pe.queue {
		in.FromTxn = pe.pool.TxnID + uint64(i)
	}
	pe.pool.UpdatedAt = c.at
	return &Result{UUID: pe.pool.UUID, Intents: out}
}

// closeAbandon extends the set of intents to abandon (id -> reason) with
// everything that depends on them, walking the queue in order so the result
// is the same on every replica: a snapshot whose origin's creation is
// abandoned, and the other half of a revert.
func (s *state) closeAbandon(pe *poolEntry, reason map[string]string) {
	partner := func(in *Intent) *Intent {
		for _, q := range pe.queue {
			if q != in && q.Revert && q.Volume == in.Volume {
				return q
			}
		}
		return nil
	}
	add := func(q *Intent, why string) {
		if _, ok := reason[q.ID]; !ok {
			reason[q.ID] = why
		}
	}
	for _, in := range pe.queue {
		if r, ok := reason[in.ID]; ok && in.Revert {
			if q := partner(in); q != nil {
				add(q, fmt.Sprintf("the other half of revert intent %s was abandoned: %s", in.ID, r))
			}
		}
	}
	dead := map[uint32]string{} // thin ids whose creation is abandoned -> intent id
	for _, in := range pe.queue {
		r, ok := reason[in.ID]
		if !ok && in.Op == OpCreateSnap {
			if src, d := dead[in.Origin]; d {
				r = fmt.Sprintf("its origin's creation (intent %s) was abandoned: %s", src, reason[src])
				add(in, r)
				ok = true
				if in.Revert {
					if q := partner(in); q != nil {
						add(q, fmt.Sprintf("the other half of revert intent %s was abandoned: %s", in.ID, r))
					}
				}
			}
		}
		if ok && in.Op != OpDelete {
			dead[in.ThinID] = in.ID
		}
	}
}

// applyAbandoned undoes what queueing in reserved: its thin id, and the
// volume state it set.
func (s *state) applyAbandoned(c *applyCtx, pe *poolEntry, in *Intent, reason string) {
	v := s.volumes.get(in.Volume)
	switch in.Op {
	case OpCreateThin, OpCreateSnap:
		if pe.thins[in.ThinID] == keyOf(in.Volume) {
			delete(pe.thins, in.ThinID)
		}
		if v == nil {
			return
		}
		if in.Revert && v.ThinID != 0 {
			// The revert's delete was abandoned with it: the volume keeps
			// its old thin device, unchanged.
			v.State = VolumeActive
		} else {
			v.State, v.ThinID, v.Reason = VolumeFailed, 0, reason
		}
		v.UpdatedAt = c.at
	case OpDelete:
		if v != nil && !in.Revert {
			v.State, v.UpdatedAt = VolumeActive, c.at
		}
	}
}
