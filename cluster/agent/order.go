package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// CompletionOrder puts each pool's intent_complete commands into the log in
// transaction order, however they reach the leader. An agent that pipelines
// its batches (Config.Pipeline) proposes batch k+1's completion
// without waiting for batch k's to commit, and from a follower the two
// travel as separate HTTPS requests that may arrive in either order. The FSM
// accepts a completion only from the pool's current transaction id, so one
// that overtook its predecessor would be refused and the pool would stall in
// recovery. So the leader holds a completion until the one before it is
// queued in the log (the submit function's promise; cluster/node's is the
// group committer's queue):
// it goes ahead when its from_txn is the pool's recorded transaction id (no
// completion is outstanding) or the end of the last completion queued here.
//
// The wait is bounded (orderWait): a predecessor that never comes (its agent
// died, leadership moved and it was queued at the old leader) must not hold
// its successor forever. Past the bound the completion goes as it is and the
// FSM decides: an out-of-order one is refused, which the agent handles like
// any refused completion (it reloads the record and rolls forward with proof).
// Nothing here changes what the log may contain; it only makes the common
// case land in order.
//
// It is the leader's side of the Proposer contract for completions; the
// node's internal propose route and its own Proposer both apply through it.
type CompletionOrder struct {
	fsm *metadata.FSM

	mu sync.Mutex
	// next is, per pool, the transaction id the last completion queued by
	// this node ends at.
	next map[string]uint64
	// changed is closed and replaced when next changes.
	changed chan struct{}
	// waiting counts completions held for their predecessor.
	waiting int
}

// orderWait bounds how long a completion waits for its predecessor.
const orderWait = 200 * time.Millisecond

// NewCompletionOrder orders completions against fsm, the leader's replica.
func NewCompletionOrder(fsm *metadata.FSM) *CompletionOrder {
	return &CompletionOrder{fsm: fsm, next: map[string]uint64{}, changed: make(chan struct{})}
}

// Wait waits for a submitted command's result.
type Wait func(ctx context.Context) (*metadata.Result, error)

// Apply runs submit for cmd, after the completions before it if cmd is an
// intent_complete, and waits for its result. submit must queue the command
// in the log behind every command it queued before (raftnode.Node.Submit)
// and return at once.
func (o *CompletionOrder) Apply(ctx context.Context, cmd metadata.Command, submit func() Wait) (*metadata.Result, error) {
	if cmd.Type != metadata.CmdIntentComplete {
		return submit()(ctx)
	}
	var ic metadata.IntentComplete
	if err := json.Unmarshal(cmd.Payload, &ic); err != nil || ic.Pool == "" || len(ic.Intents) == 0 {
		// Malformed: the FSM refuses it with the reason.
		return submit()(ctx)
	}
	wait, err := o.submit(ctx, ic, submit)
	if err != nil {
		return nil, err
	}
	return wait(ctx)
}

// submit queues the completion once its turn has come (or orderWait has
// passed) and returns the wait for its result.
func (o *CompletionOrder) submit(ctx context.Context, ic metadata.IntentComplete, submit func() Wait) (Wait, error) {
	deadline := time.NewTimer(orderWait)
	defer deadline.Stop()
	late := false
	for {
		watch := o.fsm.Watch()
		o.mu.Lock()
		if late || o.turn(ic) {
			wait := submit()
			o.next[ic.Pool] = ic.FromTxn + uint64(len(ic.Intents))
			close(o.changed)
			o.changed = make(chan struct{})
			o.mu.Unlock()
			return wait, nil
		}
		changed := o.changed
		o.waiting++
		o.mu.Unlock()
		var err error
		select {
		case <-changed:
		case <-watch:
		case <-deadline.C:
			late = true
		case <-ctx.Done():
			// Never queued: a definite no.
			err = fmt.Errorf("completion of pool %s from transaction %d: %w", ic.Pool, ic.FromTxn, ctx.Err())
		}
		o.mu.Lock()
		o.waiting--
		o.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// waiters is how many completions wait for their predecessor.
func (o *CompletionOrder) waiters() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.waiting
}

// turn tells whether ic may be queued now; called with mu held.
func (o *CompletionOrder) turn(ic metadata.IntentComplete) bool {
	var txn uint64
	known := false
	o.fsm.Read(func(v metadata.View) {
		if p, ok := v.Pool(ic.Pool); ok {
			txn, known = p.TxnID, true
		}
	})
	if !known || ic.FromTxn <= txn {
		// Unknown pool, the next in line, or a repeat of one applied
		// (answered Already or refused by the FSM): nothing to wait for.
		return true
	}
	return o.next[ic.Pool] == ic.FromTxn
}
