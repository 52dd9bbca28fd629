package raftnode

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// LeaderState is a node's view of who leads.
type LeaderState struct {
	LeaderID   string
	LeaderAddr string
	// IsLeader: this node is the leader.
	IsLeader bool
	Term     uint64
}

// Leader returns the id and address of the leader this node knows of
// ("" when none is known, e.g. during an election).
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node currently believes it is the leader.
// Use VerifyLeader or LinearizableRead where a stale belief matters.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// State returns this node's current leadership view.
func (n *Node) State() LeaderState {
	id, addr := n.Leader()
	return LeaderState{LeaderID: id, LeaderAddr: addr, IsLeader: n.IsLeader(), Term: n.raft.CurrentTerm()}
}

// WaitLeader blocks until this node knows a leader, and returns it.
func (n *Node) WaitLeader(ctx context.Context) (LeaderState, error) {
	ch, cancel := n.WatchLeader()
	defer cancel()
	for {
		if s := n.State(); s.LeaderID != "" {
			return s, nil
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return LeaderState{}, fmt.Errorf("raftnode: %s: no leader: %w", n.cfg.ID, ctx.Err())
		}
	}
}

// WatchLeader returns a channel that receives this node's LeaderState each
// time leadership changes, starting with the current state. A slow reader
// misses intermediate states but always gets the latest one. cancel stops
// the watch.
func (n *Node) WatchLeader() (<-chan LeaderState, func()) {
	return n.watch.subscribe()
}

// leaderWatch turns raft's leader and state observations into LeaderState
// updates for subscribers.
type leaderWatch struct {
	n    *Node
	obs  *raft.Observer
	ch   chan raft.Observation
	quit chan struct{}
	done chan struct{}

	mu   sync.Mutex
	subs map[chan LeaderState]struct{}
	last LeaderState
}

func startLeaderWatch(n *Node) *leaderWatch {
	w := &leaderWatch{
		n:    n,
		ch:   make(chan raft.Observation, 64),
		quit: make(chan struct{}),
		done: make(chan struct{}),
		subs: map[chan LeaderState]struct{}{},
	}
	w.obs = raft.NewObserver(w.ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(w.obs)
	w.last = n.State()
	go w.run()
	return w
}

func (w *leaderWatch) run() {
	defer close(w.done)
	// The observer drops when its channel is full, so each wake-up reads
	// the current state rather than trusting the observation it got; the
	// ticker covers a drop of the very last observation.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-w.ch:
		case <-tick.C:
		}
		w.publish(w.n.State())
	}
}

func (w *leaderWatch) publish(s LeaderState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s == w.last {
		return
	}
	w.last = s
	for c := range w.subs {
		offer(c, s)
	}
}

// offer replaces whatever the subscriber has not read yet with s.
func offer(c chan LeaderState, s LeaderState) {
	select {
	case <-c:
	default:
	}
	select {
	case c <- s:
	default:
	}
}

func (w *leaderWatch) subscribe() (<-chan LeaderState, func()) {
	c := make(chan LeaderState, 1)
	w.mu.Lock()
	w.subs[c] = struct{}{}
	offer(c, w.last)
	w.mu.Unlock()
	var once sync.Once
	return c, func() {
		once.Do(func() {
			w.mu.Lock()
			delete(w.subs, c)
			w.mu.Unlock()
		})
	}
}

func (w *leaderWatch) stop() {
	w.n.raft.DeregisterObserver(w.obs)
	close(w.quit)
	<-w.done
}
