package raftnode

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Result is one committed command: its log index and what the FSM's Apply
// returned for it (an FSM signals a rejected command through its response;
// that is not a Raft error).
type Result struct {
	Index    uint64
	Response any
}

// Apply commits cmd through the leader's log and returns the FSM's
// response once this node's FSM has applied it. On a follower it fails
// with a *NotLeaderError naming the leader. Concurrent calls share disk
// writes and AppendEntries rounds: packed into one entry when Config.Pack
// is set (group.go), else as raft batches them.
func (n *Node) Apply(ctx context.Context, cmd []byte) (Result, error) {
	return n.Submit(ctx, cmd)(ctx)
}

// Submit queues cmd behind every command this node queued before it (by
// Apply, ApplyBatch or Submit) and returns at once; wait returns what Apply
// would. Callers that must keep commands in log order without waiting for
// each to commit (an agent's pipelined completions) submit them in order.
// wait must be called with a context bounding the wait; if ctx ends before
// cmd leaves the queue, it is dropped and wait reports a definite failure.
func (n *Node) Submit(ctx context.Context, cmd []byte) (wait func(ctx context.Context) (Result, error)) {
	if err := ctx.Err(); err != nil {
		// Nothing enqueued: a definite "not applied", unlike a context
		// that ends while the command is in flight.
		return func(context.Context) (Result, error) { return Result{}, fmt.Errorf("apply: %w", err) }
	}
	if n.group != nil {
		p := n.group.enqueue([][]byte{cmd})[0]
		return func(ctx context.Context) (Result, error) {
			ctx, cancel := n.bound(ctx)
			defer cancel()
			return n.group.wait(ctx, p)
		}
	}
	bctx, cancel := n.bound(ctx)
	f := n.raft.Apply(cmd, enqueueTimeout(bctx))
	cancel()
	return func(ctx context.Context) (Result, error) {
		ctx, cancel := n.bound(ctx)
		defer cancel()
		if err := waitFuture(ctx, f); err != nil {
			return Result{}, n.classify("apply", err)
		}
		return Result{Index: f.Index(), Response: f.Response()}, nil
	}
}

// ApplyBatch enqueues all cmds at once and waits for all of them: one
// caller's way to fill raft's batches without a goroutine per command.
// results[i] belongs to cmds[i]; errs[i] is its error (nil on commit).
func (n *Node) ApplyBatch(ctx context.Context, cmds [][]byte) (results []Result, errs []error) {
	results = make([]Result, len(cmds))
	errs = make([]error, len(cmds))
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("apply: %w", err)
		}
		return results, errs
	}
	ctx, cancel := n.bound(ctx)
	defer cancel()
	if n.group != nil {
		return n.group.apply(ctx, cmds)
	}
	futures := make([]raft.ApplyFuture, len(cmds))
	for i, c := range cmds {
		futures[i] = n.raft.Apply(c, enqueueTimeout(ctx))
	}
	for i, f := range futures {
		if err := waitFuture(ctx, f); err != nil {
			errs[i] = n.classify("apply", err)
			continue
		}
		results[i] = Result{Index: f.Index(), Response: f.Response()}
	}
	return results, errs
}

// Barrier returns once every command committed before it has been applied
// to this node's FSM. Leader only.
func (n *Node) Barrier(ctx context.Context) error {
	ctx, cancel := n.bound(ctx)
	defer cancel()
	return n.classify("barrier", waitFuture(ctx, n.raft.Barrier(enqueueTimeout(ctx))))
}

// VerifyLeader confirms with a quorum that this node is still the leader.
func (n *Node) VerifyLeader(ctx context.Context) error {
	ctx, cancel := n.bound(ctx)
	defer cancel()
	return n.classify("verify leader", waitFuture(ctx, n.raft.VerifyLeader()))
}

// LinearizableRead returns when a read of the local FSM reflects every
// command acknowledged before the call: the ReadIndex protocol. It takes
// the leader's commit index, confirms leadership with a quorum, and waits
// until the FSM has applied that index. Two cases need a barrier instead:
// a leader that has not yet committed an entry in its own term (its commit
// index may trail what the previous leader acknowledged), and a commit index
// at a no-op or configuration entry the FSM never sees. Concurrent reads
// that need a barrier share one.
func (n *Node) LinearizableRead(ctx context.Context) error {
	ctx, cancel := n.bound(ctx)
	defer cancel()
	if n.raft.State() != raft.Leader {
		return n.classify("read", raft.ErrNotLeader)
	}
	term := n.raft.CurrentTerm()
	readIdx := n.raft.CommitIndex()
	if err := n.VerifyLeader(ctx); err != nil {
		return err
	}
	if n.readyTerm.Load() == term && n.fsm.applied() >= readIdx {
		return nil
	}
	if err := n.sharedBarrier(ctx); err != nil {
		return err
	}
	if n.raft.CurrentTerm() == term {
		n.readyTerm.Store(term)
	}
	return nil
}

// barrierCall is one in-flight barrier that readers join.
type barrierCall struct {
	done chan struct{}
	err  error
}

// sharedBarrier joins the barrier in flight or starts one. Joining one that
// started before this reader is safe: while it is pending the FSM has not
// applied its index, so it has not applied (or acknowledged) any later
// command either; once it completes, everything acknowledged before this
// reader arrived is applied.
func (n *Node) sharedBarrier(ctx context.Context) error {
	n.barrierMu.Lock()
	c := n.barrier
	if c == nil {
		c = &barrierCall{done: make(chan struct{})}
		n.barrier = c
		go func() {
			bctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
			c.err = n.Barrier(bctx)
			cancel()
			n.barrierMu.Lock()
			n.barrier = nil
			n.barrierMu.Unlock()
			close(c.done)
		}()
	}
	n.barrierMu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return fmt.Errorf("read: %w", ctx.Err())
	}
}

// bound gives ctx the node's default deadline if it has none.
func (n *Node) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, n.cfg.ApplyTimeout)
}

// enqueueTimeout is how long raft may wait to accept a command: the
// context's remaining time.
func enqueueTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		if t := time.Until(d); t > 0 {
			return t
		}
		return time.Millisecond
	}
	return 0
}

// waitFuture waits for f or ctx. A context that ends first leaves the
// command's fate open, hence ErrOutcomeUnknown.
func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	}
}

// fsmTracker wraps the caller's FSM to record the index of the last
// command it has finished applying (raft's AppliedIndex counts commands
// handed to the FSM, not ones it has applied).
type fsmTracker interface {
	raft.FSM
	applied() uint64
	// nudgeCommits makes the leader carry a new commit index to the
	// followers sooner than the commit timer when nothing else does
	// (commitNudge); set once raft exists.
	nudgeCommits(r *raft.Raft, timeout, commit time.Duration)
}

type trackedFSM struct {
	inner raft.FSM
	idx   atomic.Uint64
	nudge atomic.Pointer[commitNudge]
}

func (t *trackedFSM) Apply(l *raft.Log) any {
	r := t.inner.Apply(l)
	t.idx.Store(l.Index)
	t.committed()
	return r
}

func (t *trackedFSM) nudgeCommits(r *raft.Raft, timeout, commit time.Duration) {
	if commit < 2*maxNudgeGrace {
		// raft's own commit timer carries the commit index at least as
		// soon, with an AppendEntries that costs no disk write.
		return
	}
	grace := min(commit/2, maxNudgeGrace)
	t.nudge.Store(&commitNudge{r: r, timeout: timeout, grace: grace, applied: &t.idx})
}

// committed tells the nudge, on the leader, that commands were committed.
func (t *trackedFSM) committed() {
	if c := t.nudge.Load(); c != nil && c.r.State() == raft.Leader {
		c.poke()
	}
}

func (t *trackedFSM) Snapshot() (raft.FSMSnapshot, error) { return t.inner.Snapshot() }

// Restore leaves the index alone: a restore only moves the state forward,
// and reads after it take the barrier path until the next command.
func (t *trackedFSM) Restore(rc io.ReadCloser) error { return t.inner.Restore(rc) }

func (t *trackedFSM) applied() uint64 { return t.idx.Load() }

// trackedBatchFSM keeps raft.BatchingFSM visible to raft when the caller's
// FSM implements it.
type trackedBatchFSM struct {
	trackedFSM
	batch raft.BatchingFSM
}

func (t *trackedBatchFSM) ApplyBatch(logs []*raft.Log) []any {
	r := t.batch.ApplyBatch(logs)
	if len(logs) > 0 {
		t.idx.Store(logs[len(logs)-1].Index)
		t.committed()
	}
	return r
}

func newTracker(f raft.FSM) fsmTracker {
	if b, ok := f.(raft.BatchingFSM); ok {
		return &trackedBatchFSM{trackedFSM: trackedFSM{inner: f}, batch: b}
	}
	return &trackedFSM{inner: f}
}

// commitNudge carries a new commit index to the followers of a quiet
// cluster sooner. hashicorp/raft tells followers its commit index only
// inside AppendEntries, and sends one without new entries only after a
// random 1-2x CommitTimeout (10-20 ms on loopback timing, 50-100 ms on LAN
// timing). A follower whose agent must execute a just-committed intent, or
// see its own completion applied, would sit out that timer whenever no
// later command follows, twice per operation. So after the leader's FSM
// applies commands, the nudge waits half the commit timer (at most
// maxNudgeGrace) and, if no entry
// was appended since (one would carry the commit), appends a barrier entry:
// raft replicates it at once, with the commit index. Barriers are not
// commands (no FSM sees them), so they trigger no further nudge; one round
// runs at a time and pokes meanwhile coalesce into one more. Under load a
// later entry nearly always comes within the grace, and no barrier is
// written.
// maxNudgeGrace caps the nudge's wait (LAN timing's commit timer is 50 ms).
const maxNudgeGrace = 5 * time.Millisecond

type commitNudge struct {
	r       *raft.Raft
	timeout time.Duration
	grace   time.Duration
	applied *atomic.Uint64
	// state: 0 idle, 1 a round running, 2 a round running and another
	// poke since it started.
	state atomic.Int32
	// last is the highest leader log index seen by a poke: an entry after
	// it was appended once the commit being nudged was known, so its
	// AppendEntries already carries that commit and no barrier is needed.
	last atomic.Uint64
	// barriers counts the barriers appended (tests, benchmarks).
	barriers atomic.Int64
}

// poke asks for a round; it never blocks (it runs on raft's FSM goroutine).
func (c *commitNudge) poke() {
	for l := c.r.LastIndex(); ; {
		cur := c.last.Load()
		if cur >= l || c.last.CompareAndSwap(cur, l) {
			break
		}
	}
	for {
		switch s := c.state.Load(); s {
		case 0:
			if c.state.CompareAndSwap(0, 1) {
				go c.run()
				return
			}
		case 1:
			if c.state.CompareAndSwap(1, 2) {
				return
			}
		default:
			return
		}
	}
}

func (c *commitNudge) run() {
	for {
		c.round()
		if c.state.CompareAndSwap(1, 0) {
			return
		}
		c.state.Store(1)
	}
}

// round appends one barrier and waits for it. Once it is applied every
// command before it is, so the FSM's applied index may move up to the
// barrier's: a linearizable read whose commit index is that barrier then
// takes the fast path.
func (c *commitNudge) round() {
	// Give the next command half the commit timer (at most 5 ms) to come:
	// under load one nearly always does, and its AppendEntries carries the
	// commit for free. Barriers are only for a cluster gone quiet: with a
	// 1 ms grace they fired often enough under the bench's load to cost
	// ~10% more CPU per operation and a higher p50 (docs/bench-cluster.md).
	time.Sleep(c.grace)
	if c.r.State() != raft.Leader || c.r.LastIndex() > c.last.Load() {
		// Under load the next batch was appended after the commit: it
		// carries the commit index, and the barrier would only cost a write.
		return
	}
	f := c.r.Barrier(c.timeout)
	c.barriers.Add(1)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return // leadership lost or shutdown: the next leader commits its own
		}
	case <-t.C:
		return
	}
	if idx, ok := f.(raft.IndexFuture); ok {
		for {
			cur := c.applied.Load()
			if cur >= idx.Index() || c.applied.CompareAndSwap(cur, idx.Index()) {
				break
			}
		}
	}
}
