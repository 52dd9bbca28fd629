package raftnode

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// Group commit. Every log entry costs one disk write on each voter (with
// raft-boltdb, a bbolt transaction: two fdatasyncs) whatever it carries, and
// raft only batches the commands that happen to wait for its leader loop at
// the same moment. At a steady rate most entries then carry one command, and
// the fsyncs, not the commands, are most of a cluster's CPU.
//
// So when the FSM can apply packed entries (Config.Pack), Apply does not hand
// each command to raft itself: it queues it, and at most Config.GroupInFlight
// entries are in raft at once (submitted, not yet applied by this node's
// FSM). While they are, the commands that arrive wait and then go together as
// one packed entry, in arrival order. An idle cluster adds no delay (the
// first command finds no entry in flight), and the busier the log, the more
// commands share a write; the latency a command can gain is bounded by the
// entries ahead of it, which the fsyncs saved shorten.
//
// Order: commands are packed and submitted in the order Apply queued them,
// one submission at a time, so two commands of one caller keep their order
// in the log, as they would with raft.Apply.

// Packer packs commands into one log entry that the FSM applies as those
// commands, in order, answering with a MultiResponse.
type Packer func(cmds [][]byte) []byte

// MultiResponse is an FSM's answer to a packed entry: one response per
// command, in the entry's order.
type MultiResponse interface {
	Responses() []any
}

// Defaults of the group committer.
const (
	DefaultGroupInFlight = 1
	// DefaultGroupMaxBytes bounds a packed entry; a command larger than it
	// goes alone.
	DefaultGroupMaxBytes = 1 << 20
	DefaultGroupMaxCmds  = 512
)

// proposal is one queued command.
type proposal struct {
	cmd  []byte
	done chan struct{}
	// Set under group.mu before done is closed.
	submitted bool
	res       Result
	err       error
}

// group is the node's group committer.
type group struct {
	n         *Node
	pack      Packer
	maxFlight int
	maxBytes  int
	maxCmds   int

	mu       sync.Mutex
	queue    []*proposal
	inFlight int
	// submitMu orders submissions: taken before mu is released, so the
	// entries reach raft in the order they were formed.
	submitMu sync.Mutex
}

func newGroup(n *Node) *group {
	if n.cfg.Pack == nil {
		return nil
	}
	return &group{n: n, pack: n.cfg.Pack, maxFlight: n.cfg.GroupInFlight, maxBytes: n.cfg.GroupMaxBytes, maxCmds: n.cfg.GroupMaxCmds}
}

// apply queues cmds and waits for each. It is Apply and ApplyBatch with
// group commit: results[i] and errs[i] belong to cmds[i].
func (g *group) apply(ctx context.Context, cmds [][]byte) ([]Result, []error) {
	results := make([]Result, len(cmds))
	errs := make([]error, len(cmds))
	ps := g.enqueue(cmds)
	for i, p := range ps {
		results[i], errs[i] = g.wait(ctx, p)
	}
	return results, errs
}

// enqueue queues cmds, in order, behind everything queued before, and
// starts submitting.
func (g *group) enqueue(cmds [][]byte) []*proposal {
	ps := make([]*proposal, len(cmds))
	for i, c := range cmds {
		ps[i] = &proposal{cmd: c, done: make(chan struct{})}
	}
	g.mu.Lock()
	g.queue = append(g.queue, ps...)
	g.mu.Unlock()
	g.kick()
	return ps
}

// wait waits for p's answer. A context that ends while p is still queued
// takes it out: a definite "not applied"; once submitted, its fate is
// unknown to a caller that stops waiting.
func (g *group) wait(ctx context.Context, p *proposal) (Result, error) {
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	if !p.submitted {
		g.drop(p)
		g.mu.Unlock()
		return Result{}, fmt.Errorf("apply: %w", ctx.Err())
	}
	g.mu.Unlock()
	select {
	case <-p.done:
		return p.res, p.err
	default:
		return Result{}, fmt.Errorf("apply: %w: %w", ErrOutcomeUnknown, ctx.Err())
	}
}

// drop removes a queued proposal; called with mu held.
func (g *group) drop(p *proposal) {
	for i, q := range g.queue {
		if q == p {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			return
		}
	}
}

// kick submits queued commands while fewer than maxFlight entries are in
// flight.
func (g *group) kick() {
	for {
		g.mu.Lock()
		if g.inFlight >= g.maxFlight || len(g.queue) == 0 {
			g.mu.Unlock()
			return
		}
		batch := g.take()
		g.inFlight++
		g.submitMu.Lock()
		g.mu.Unlock()
		g.submit(batch)
		g.submitMu.Unlock()
	}
}

// take removes the next entry's commands from the queue, marked submitted;
// called with mu held and the queue non-empty.
func (g *group) take() []*proposal {
	n, size := 0, 0
	for n < len(g.queue) && n < g.maxCmds {
		l := len(g.queue[n].cmd)
		if n > 0 && size+l > g.maxBytes {
			break
		}
		size += l
		n++
	}
	batch := make([]*proposal, n)
	copy(batch, g.queue[:n])
	g.queue = append(g.queue[:0], g.queue[n:]...)
	for _, p := range batch {
		p.submitted = true
	}
	return batch
}

// submit hands one entry to raft and answers its commands when this node's
// FSM has applied it (or raft refused it).
func (g *group) submit(batch []*proposal) {
	data := batch[0].cmd
	if len(batch) > 1 {
		cmds := make([][]byte, len(batch))
		for i, p := range batch {
			cmds[i] = p.cmd
		}
		data = g.pack(cmds)
	}
	f := g.n.raft.Apply(data, g.n.cfg.ApplyTimeout)
	go func() {
		err := f.Error()
		g.finish(batch, f, err)
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
		g.kick()
	}()
}

// finish gives each command of an applied (or failed) entry its answer.
func (g *group) finish(batch []*proposal, f raft.ApplyFuture, err error) {
	var resps []any
	if err == nil && len(batch) > 1 {
		if m, ok := f.Response().(MultiResponse); ok {
			resps = m.Responses()
		}
	}
	for i, p := range batch {
		switch {
		case err != nil:
			p.err = g.n.classify("apply", err)
		case len(batch) == 1:
			p.res = Result{Index: f.Index(), Response: f.Response()}
		case len(resps) == len(batch):
			p.res = Result{Index: f.Index(), Response: resps[i]}
		default:
			// The FSM refused the entry whole (e.g. malformed): every
			// command gets that answer.
			p.res = Result{Index: f.Index(), Response: f.Response()}
		}
		close(p.done)
	}
}
