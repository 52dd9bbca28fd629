package raftnode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func groupCommit(cfg *Config) {
	cfg.Pack = testPack
	cfg.GroupInFlight = 1
	cfg.LogLevel = "error"
}

// queued waits until n commands wait in l's group committer.
func queued(t *testing.T, l *Node, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.group.mu.Lock()
		got := len(l.group.queue)
		l.group.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d commands queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// commandEntries counts the command entries in l's log after index from
// (the commit nudge's barriers are not commands).
func commandEntries(t *testing.T, l *Node, from uint64) int {
	t.Helper()
	n := 0
	for i := from + 1; i <= l.raft.LastIndex(); i++ {
		var e raft.Log
		if err := l.store.GetLog(i, &e); err != nil {
			t.Fatalf("log entry %d: %v", i, err)
		}
		if e.Type == raft.LogCommand {
			n++
		}
	}
	return n
}

// holdLeader blocks the leader's FSM on the next "gate" command, applies
// it in the background, and returns a release func and the gate apply's
// error channel. While held, the gate entry is in flight and later
// commands queue.
func holdLeader(t *testing.T, c *testCluster, l *Node, ctx context.Context) (release func(), gateErr chan error) {
	t.Helper()
	ch := make(chan struct{})
	c.fsm(l.cfg.ID).gate.Store(&ch)
	gateErr = make(chan error, 1)
	go func() {
		_, err := l.Apply(ctx, []byte("gate"))
		gateErr <- err
	}()
	queued(t, l, 0)
	// The gate entry has left the queue; wait until it is in flight.
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.group.mu.Lock()
		n := l.group.inFlight
		l.group.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gate entry never in flight")
		}
		time.Sleep(time.Millisecond)
	}
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }, gateErr
}

// TestGroupCommitPacks: commands that arrive while an entry is in flight
// share one entry, each caller gets its own command's answer (a refusal
// only for the refused one), the log keeps their arrival order, and every
// replica applies the same list.
func TestGroupCommitPacks(t *testing.T) {
	c := newTestCluster(t, groupCommit)
	ids := c.bootstrap(3)
	l := c.leader()
	before := l.raft.LastIndex()
	release, gateErr := holdLeader(t, c, l, context.Background())
	defer release()

	const n = 100
	type answer struct {
		r   Result
		err error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	var want []string
	for i := range n {
		cmd := fmt.Sprintf("c%d", i)
		if i == 7 {
			cmd = "reject:c7"
		} else {
			want = append(want, cmd)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := l.Apply(context.Background(), []byte(cmd))
			answers[i] = answer{r, err}
		}()
		// One at a time, so the queue's order is known.
		queued(t, l, i+1)
	}
	release()
	wg.Wait()
	if err := <-gateErr; err != nil {
		t.Fatalf("gate: %v", err)
	}
	if got := commandEntries(t, l, before); got != 2 {
		t.Fatalf("the held command and %d more took %d log entries, want 2", n, got)
	}
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Fatalf("c%d: %v", i, a.err)
		case i == 7:
			if _, ok := a.r.Response.(error); !ok {
				t.Fatalf("reject:c7 answered %v, want its refusal", a.r.Response)
			}
		default:
			// listFSM answers with the list's length after the command:
			// "gate" is first, then the commands in order, minus c7.
			pos := i + 2
			if i > 7 {
				pos--
			}
			if a.r.Response != pos {
				t.Fatalf("c%d answered %v, want position %d", i, a.r.Response, pos)
			}
		}
	}
	c.converge(append([]string{"gate"}, want...), ids...)
}

// TestGroupCommitCancelQueued: a command whose context ends while it waits
// in the queue never reaches the log, and its caller is told so for sure
// (not ErrOutcomeUnknown); one already in raft is ErrOutcomeUnknown, and
// is applied.
func TestGroupCommitCancelQueued(t *testing.T) {
	c := newTestCluster(t, groupCommit)
	ids := c.bootstrap(3)
	l := c.leader()
	gctx, gcancel := context.WithCancel(context.Background())
	release, gateErr := holdLeader(t, c, l, gctx)
	defer release()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.Apply(ctx, []byte("dropped"))
		done <- err
	}()
	queued(t, l, 1)
	cancel()
	err := <-done
	if err == nil || !errors.Is(err, context.Canceled) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("cancelled while queued: %v; want a definite context.Canceled", err)
	}
	queued(t, l, 0)

	// The gate entry is in raft: a caller that stops waiting cannot know.
	gcancel()
	if err := <-gateErr; !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("cancelled while in flight: %v; want ErrOutcomeUnknown", err)
	}
	release()
	if _, err := l.Apply(context.Background(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	c.converge([]string{"gate", "after"}, ids...)
	if got := c.fsm(l.cfg.ID).list(); slices.Contains(got, "dropped") {
		t.Fatalf("dropped command applied: %v", got)
	}
}

// TestGroupCommitFollowerRefuses: on a follower, Apply fails with the
// leader's name, as without group commit.
func TestGroupCommitFollowerRefuses(t *testing.T) {
	c := newTestCluster(t, groupCommit)
	c.bootstrap(3)
	l := c.leader()
	f := c.node(c.followers(l)[0])
	_, err := f.Apply(context.Background(), []byte("x"))
	var nl *NotLeaderError
	if !errors.As(err, &nl) {
		t.Fatalf("follower apply: %v, want *NotLeaderError", err)
	}
}
