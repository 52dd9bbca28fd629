package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// Proposer commits a command to the cluster's log (through the leader) and
// returns the FSM's result. A nil error with a refused command carries the
// refusal in Result.Err.
type Proposer interface {
	Propose(ctx context.Context, cmd metadata.Command) (*metadata.Result, error)
}

// ErrNotAgentCommand: the agent never begins intents or records sizes; the
// leader queues intents when it applies volume commands.
var ErrNotAgentCommand = errors.New("not an agent command")

// Record is one pool's thinpool.Record over the local FSM replica and a
// Proposer. It is also a thinpool.BatchCompleter.
type Record struct {
	fsm  *metadata.FSM
	prop Proposer
	pool string
	now  func() time.Time
	// timeout bounds one proposal, so a cluster without quorum stalls a
	// batch (retried later), not the agent.
	timeout time.Duration

	// depth is the pipeline's: the batches whose completions may be
	// outstanding (1: CompleteBatch waits for the commit).
	depth int
	// wake, if set, is called when a pipelined completion ends.
	wake func()
	// committed, if set, is told of every batch whose completion the
	// cluster committed, with the time since its startBatch.
	committed func(intents int, took time.Duration)
	// started is when the agent began the batch now executing.
	started time.Time

	mu sync.Mutex
	// ahead are completions the local replica may not have applied yet,
	// committed first, then the pipeline's, in log order (ahead.go).
	ahead []aheadCompletion
	// completing: the pool's completer goroutine runs; idle is closed when
	// it ends. failure is a pipelined completion's error, until taken.
	completing bool
	idle       chan struct{}
	failure    error
	// kick wakes the completer: a completion queued or a proposal ended.
	// sending counts its proposals out.
	kick    chan struct{}
	sending int
}

var (
	_ thinpool.Record         = (*Record)(nil)
	_ thinpool.BatchCompleter = (*Record)(nil)
)

// NewRecord returns the record of pool uuid.
func NewRecord(fsm *metadata.FSM, prop Proposer, pool string) *Record {
	return &Record{fsm: fsm, prop: prop, pool: pool, now: time.Now, timeout: DefaultProposeTimeout}
}

// Load builds the pool's state from one consistent view: its transaction
// id, the thin devices the record says the kernel has, the pending queue in
// order, and its quarantine findings.
func (r *Record) Load(context.Context) (thinpool.PoolState, error) {
	var (
		st  thinpool.PoolState
		err error
	)
	r.fsm.Read(func(v metadata.View) {
		p, ok := v.Pool(r.pool)
		if !ok {
			err = fmt.Errorf("pool %s is not in the record", r.pool)
			return
		}
		ahead := r.pendingAhead(v.Index())
		st = poolState(p, v.VolumeBriefsOfPool(r.pool), withoutAhead(v.PendingIntents(r.pool), ahead))
		applyAhead(&st, ahead)
	})
	if err != nil {
		return thinpool.PoolState{}, err
	}
	return st, nil
}

// poolState derives thinpool's view of a pool. A volume's thin id is in
// the kernel once the intent creating it completed: ids whose create_thin
// or create_snap is still queued are left out (reconcile treats queued ids
// as either way), while ids with a queued delete are still there.
func poolState(p metadata.Pool, vols []metadata.VolumeBrief, queue []metadata.Intent) thinpool.PoolState {
	st := thinpool.PoolState{Pool: p.UUID, TxnID: p.TxnID, Thins: map[uint32]thinpool.ThinRecord{}}
	creating := map[uint32]bool{}
	for _, in := range queue {
		if in.Op != metadata.OpDelete {
			creating[in.ThinID] = true
		}
		ti, err := toIntent(in)
		if err != nil {
			// An op this agent does not know: leave the queue there, so
			// ExecuteBatch is never handed a partial one.
			break
		}
		st.Queue = append(st.Queue, ti)
	}
	if len(st.Queue) > 0 {
		st.Pending = &st.Queue[0]
	}
	for _, vol := range vols {
		if vol.ThinID == 0 || creating[vol.ThinID] {
			continue
		}
		st.Thins[vol.ThinID] = thinpool.ThinRecord{ID: vol.ThinID, SizeSectors: toSectors(vol.SizeBytes)}
	}
	if p.State == metadata.PoolQuarantined {
		for _, f := range p.Findings {
			st.Quarantined = append(st.Quarantined, fromFinding(p.UUID, f))
		}
	}
	return st
}

// Begin is refused: the leader begins intents.
func (r *Record) Begin(_ context.Context, in thinpool.Intent) error {
	return fmt.Errorf("pool %s: begin %s: %w: intents are queued by the leader's volume commands", r.pool, in, ErrNotAgentCommand)
}

// SetThinSize succeeds only when the record already has the size: sizes
// change by volume_extend, a record change the agent follows (it resizes
// active devices to what the record says); it never proposes one.
func (r *Record) SetThinSize(_ context.Context, id uint32, sizeSectors uint64) error {
	var have uint64
	r.fsm.Read(func(v metadata.View) {
		for _, vol := range v.VolumeBriefsOfPool(r.pool) {
			if vol.ThinID == id {
				have = toSectors(vol.SizeBytes)
			}
		}
	})
	if have < sizeSectors {
		return fmt.Errorf("pool %s: set size of thin %d to %d sectors (record: %d): %w: use volume_extend", r.pool, id, sizeSectors, have, ErrNotAgentCommand)
	}
	return nil
}

// Complete reports one executed intent.
func (r *Record) Complete(ctx context.Context, in thinpool.Intent) error {
	return r.CompleteBatch(ctx, []thinpool.Intent{in})
}

// CompleteBatch reports a batch executed as one kernel transaction: one
// intent_complete command. A repeated completion (a retry after a lost
// response) is accepted by the FSM as Already.
//
// It returns once the cluster committed the completion, without waiting for
// the local replica to apply it: Load and Pending present the pool as after
// it until the replica catches up (ahead.go). A refused completion is
// waited for, so the next Load reads the replica's truth. With a pipeline
// depth of 2 or more it returns at once and the completion is proposed
// behind the agent's next batch (pipeline.go).
func (r *Record) CompleteBatch(ctx context.Context, batch []thinpool.Intent) error {
	batch = slices.Clone(batch)
	if r.depth > 1 {
		r.mu.Lock()
		failed := r.failure != nil
		r.mu.Unlock()
		if !failed {
			r.enqueueCompletion(ctx, batch, r.started)
			return nil
		}
	}
	// After a pipelined failure, the roll forward that recovers from it
	// goes out alone, behind whatever was still in flight.
	if err := r.waitIdle(ctx); err != nil {
		return err
	}
	res, err := r.proposeCompletion(ctx, batch)
	if err != nil {
		return err
	}
	r.tell(len(batch), r.started)
	if r.fsm.AppliedIndex() < res.Index {
		r.mu.Lock()
		r.ahead = append(r.ahead, aheadCompletion{batch: batch, committed: true, index: res.Index})
		r.mu.Unlock()
	}
	return nil
}

// Pending returns the pool's pending intents in order, as after the
// completions committed but not yet applied locally.
func (r *Record) Pending() []metadata.Intent {
	var queue []metadata.Intent
	r.fsm.Read(func(v metadata.View) {
		queue = withoutAhead(v.PendingIntents(r.pool), r.pendingAhead(v.Index()))
	})
	return queue
}

// Abandon reports an intent refused before its message was sent.
func (r *Record) Abandon(ctx context.Context, in thinpool.Intent, reason string) error {
	// The completions before it go first: the log keeps the agent's order.
	if err := r.Drain(ctx); err != nil {
		return err
	}
	_, err := r.propose(ctx, metadata.CmdIntentAbandon, metadata.IntentAbandon{Pool: r.pool, Intents: []string{in.ID}, Reason: reason})
	return err
}

// Quarantine records a finding, unless the pool already carries it (a
// periodic reconcile finds the same thing again).
func (r *Record) Quarantine(ctx context.Context, f thinpool.Finding) error {
	mf := toFinding(f)
	known := false
	r.fsm.Read(func(v metadata.View) {
		p, ok := v.Pool(r.pool)
		if !ok || p.State != metadata.PoolQuarantined {
			return
		}
		for _, g := range p.Findings {
			if sameFinding(g, mf) {
				known = true
			}
		}
	})
	if known {
		return nil
	}
	if err := r.waitIdle(ctx); err != nil {
		return err
	}
	_, err := r.propose(ctx, metadata.CmdPoolQuarantine, metadata.PoolQuarantine{Pool: r.pool, Findings: []metadata.Finding{mf}})
	return err
}

// propose commits a command and waits until the local replica applied it.
func (r *Record) propose(ctx context.Context, typ metadata.CommandType, payload any) (*metadata.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return propose(ctx, r.fsm, r.prop, r.now(), typ, payload)
}

// DefaultProposeTimeout bounds one proposal and the wait for the local
// replica to apply it.
const DefaultProposeTimeout = 30 * time.Second

func propose(ctx context.Context, fsm *metadata.FSM, prop Proposer, at time.Time, typ metadata.CommandType, payload any) (*metadata.Result, error) {
	res, err := send(ctx, prop, at, typ, payload)
	if err != nil {
		return nil, err
	}
	if err := waitApplied(ctx, fsm, res.Index); err != nil {
		return res, fmt.Errorf("%s: %w", typ, err)
	}
	if err := res.AsError(); err != nil {
		return res, fmt.Errorf("%s: %w", typ, err)
	}
	return res, nil
}

// send commits a command through the proposer and returns its result,
// accepted or refused.
func send(ctx context.Context, prop Proposer, at time.Time, typ metadata.CommandType, payload any) (*metadata.Result, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", typ, err)
	}
	res, err := prop.Propose(ctx, metadata.Command{Type: typ, Time: at.UTC(), Payload: p})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", typ, err)
	}
	if res == nil {
		return nil, fmt.Errorf("%s: the proposer returned no result", typ)
	}
	return res, nil
}

// proposeCommitted is propose for a command whose success the caller can
// present itself (CompleteBatch): it returns once the command is committed
// and accepted, and waits for the local replica only when it was refused.
func proposeCommitted(ctx context.Context, fsm *metadata.FSM, prop Proposer, at time.Time, typ metadata.CommandType, payload any) (*metadata.Result, error) {
	res, err := send(ctx, prop, at, typ, payload)
	if err != nil {
		return nil, err
	}
	if err := res.AsError(); err != nil {
		if werr := waitApplied(ctx, fsm, res.Index); werr != nil {
			return res, fmt.Errorf("%s: %w (%v)", typ, err, werr)
		}
		return res, fmt.Errorf("%s: %w", typ, err)
	}
	return res, nil
}

// waitApplied returns once the local FSM has applied index: the command
// was committed through the leader, and this node's reads must see it.
func waitApplied(ctx context.Context, fsm *metadata.FSM, index uint64) error {
	for {
		ch := fsm.Watch()
		if fsm.AppliedIndex() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the local replica to apply index %d: %w", index, ctx.Err())
		}
	}
}
