package raftnode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestBootstrapElectReplicate(t *testing.T) {
	for _, size := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("%d-nodes", size), func(t *testing.T) {
			c := newTestCluster(t, nil)
			ids := c.bootstrap(size)
			l := c.leader()
			servers, _, err := l.Servers()
			if err != nil || len(servers) != size {
				t.Fatalf("servers %v %v", servers, err)
			}
			for _, s := range servers {
				if !s.Voter {
					t.Errorf("%s bootstrapped as non-voter", s.ID)
				}
			}
			want := seq("c", 0, 50)
			for i, cmd := range want {
				if got := c.apply(cmd); got != i+1 {
					t.Fatalf("apply %s: response %v, want %d", cmd, got, i+1)
				}
			}
			c.converge(want, ids...)
			// A command the FSM refuses comes back as its response, not as a
			// Raft error, and changes nothing.
			r, err := l.Apply(context.Background(), []byte("reject:x"))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := r.Response.(error); !ok {
				t.Fatalf("reject response %v", r.Response)
			}
			if r.Index == 0 {
				t.Fatal("no log index in result")
			}
			c.converge(want, ids...)
			// Bootstrapping again is refused: the node has state.
			if err := l.Bootstrap(); !errors.Is(err, raft.ErrCantBootstrap) {
				t.Fatalf("second bootstrap: %v", err)
			}
			if ok, err := l.HasState(); !ok || err != nil {
				t.Fatalf("HasState = %v %v", ok, err)
			}
		})
	}
}

func TestFollowerRefusesLeaderOnlyCalls(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(3)
	l := c.leader()
	c.apply("a")
	var f *Node
	for _, id := range c.ids() {
		if id != l.ID() {
			f = c.node(id)
			break
		}
	}
	ctx := context.Background()
	_, err := f.Apply(ctx, []byte("x"))
	var nl *NotLeaderError
	if !errors.As(err, &nl) || nl.LeaderID != l.ID() || nl.LeaderAddr != l.Addr() || !errors.Is(err, raft.ErrNotLeader) {
		t.Fatalf("follower apply: %v", err)
	}
	for name, call := range map[string]func() error{
		"read":    func() error { return f.LinearizableRead(ctx) },
		"barrier": func() error { return f.Barrier(ctx) },
		"verify":  func() error { return f.VerifyLeader(ctx) },
		"join":    func() error { return f.Join(ctx, Peer{ID: "n9", Addr: "127.0.0.1:1"}) },
		"remove":  func() error { return f.Remove(ctx, l.ID()) },
	} {
		if err := call(); !errors.As(err, &nl) || nl.LeaderID != l.ID() {
			t.Errorf("%s on follower: %v", name, err)
		}
	}
}

func TestLinearizableRead(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(3)
	l := c.leader()
	ctx := context.Background()
	// First read of a term takes the barrier path, later ones the fast path;
	// both must see every acknowledged command.
	for i := 0; i < 20; i++ {
		cmd := fmt.Sprintf("w%d", i)
		if _, err := l.Apply(ctx, []byte(cmd)); err != nil {
			t.Fatal(err)
		}
		if err := l.LinearizableRead(ctx); err != nil {
			t.Fatal(err)
		}
		if got := c.fsm(l.ID()).list(); len(got) != i+1 || got[i] != cmd {
			t.Fatalf("read after %s sees %v", cmd, got)
		}
	}
	if l.readyTerm.Load() != l.Raft().CurrentTerm() {
		t.Fatal("leader never marked its term ready for fast reads")
	}
	// Concurrent readers share barriers and all succeed.
	errs := make(chan error, 32)
	l.readyTerm.Store(0)
	for i := 0; i < 32; i++ {
		go func() { errs <- l.LinearizableRead(ctx) }()
	}
	for i := 0; i < 32; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestLeaderFailoverKeepsCommitted(t *testing.T) {
	c := newTestCluster(t, nil)
	ids := c.bootstrap(3)
	watchNode := ""
	var acked []string
	for _, cmd := range seq("a", 0, 100) {
		c.apply(cmd)
		acked = append(acked, cmd)
	}
	old := c.leader()
	for _, id := range ids {
		if id != old.ID() {
			watchNode = id
		}
	}
	ch, cancel := c.node(watchNode).WatchLeader()
	defer cancel()
	<-ch // current state
	oldTerm := old.Raft().CurrentTerm()
	c.stop(old.ID())

	var rest []string
	for _, id := range ids {
		if id != old.ID() {
			rest = append(rest, id)
		}
	}
	nl := c.leader(rest...)
	if nl.ID() == old.ID() || nl.Raft().CurrentTerm() <= oldTerm {
		t.Fatalf("new leader %s term %d (old %s term %d)", nl.ID(), nl.Raft().CurrentTerm(), old.ID(), oldTerm)
	}
	// The watch saw the change to a leader other than the old one.
	deadline := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case s := <-ch:
			seen = s.LeaderID != "" && s.LeaderID != old.ID()
		case <-deadline:
			t.Fatal("leader watch never reported the new leader")
		}
	}
	for _, cmd := range seq("b", 0, 50) {
		c.apply(cmd, rest...)
		acked = append(acked, cmd)
	}
	c.converge(acked, rest...)

	// The old leader restarts from its directory, rejoins as a follower and
	// catches up; nothing it had is lost or reordered.
	c.start(old.ID())
	c.leader()
	c.converge(acked, ids...)
	if c.node(old.ID()).IsLeader() && c.node(old.ID()).Raft().CurrentTerm() <= oldTerm {
		t.Fatal("restarted node leads in its old term")
	}
}

func TestSnapshotInstallOnLaggingFollower(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) {
		cfg.SnapshotThreshold = 64
		cfg.TrailingLogs = 16
		cfg.SnapshotInterval = 50 * time.Millisecond
	})
	ids := c.bootstrap(3)
	l := c.leader()
	var lag string
	for _, id := range ids {
		if id != l.ID() {
			lag = id
			break
		}
	}
	acked := seq("a", 0, 10)
	for _, cmd := range acked {
		c.apply(cmd)
	}
	c.converge(acked, ids...)
	c.stop(lag)
	more := seq("b", 0, 400)
	for _, cmd := range more {
		c.apply(cmd)
	}
	acked = append(acked, more...)
	// Force a snapshot and wait until the leader's log no longer holds the
	// entries the lagging follower is missing.
	l = c.leader()
	if err := l.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	first, err := l.store.FirstIndex()
	if err != nil || first < 100 {
		t.Fatalf("leader log still starts at %d (%v): not compacted", first, err)
	}
	n := c.start(lag)
	c.converge(acked, ids...)
	if got := c.fsm(lag).restores.Load(); got < 1 {
		t.Fatalf("lagging follower caught up without a snapshot install (restores %d)", got)
	}
	// And it keeps replicating normally afterwards.
	c.apply("after")
	c.converge(append(slices.Clone(acked), "after"), ids...)
	if st := n.Stats(); st["last_snapshot_index"] == "0" {
		t.Fatalf("follower stats show no snapshot: %v", st)
	}
}

func TestRestartAllFromDisk(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) {
		cfg.SnapshotThreshold = 32
		cfg.TrailingLogs = 8
		cfg.SnapshotInterval = 50 * time.Millisecond
	})
	ids := c.bootstrap(3)
	acked := seq("a", 0, 120)
	for _, cmd := range acked {
		c.apply(cmd)
	}
	c.converge(acked, ids...)
	for _, id := range ids {
		c.stop(id)
	}
	for _, id := range ids {
		n := c.start(id)
		if ok, _ := n.HasState(); !ok {
			t.Fatalf("%s lost its state", id)
		}
	}
	c.leader()
	c.apply("z")
	c.converge(append(acked, "z"), ids...)
}

func TestDataDirOwnership(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(1)
	dir := c.dirs["n1"]
	_, err := New(Config{ID: "n2", Dir: dir, Identity: c.identity("n2"), FSM: &listFSM{}, LogOutput: c.logs})
	if !errors.Is(err, ErrWrongDir) {
		t.Fatalf("other id on n1's dir: %v", err)
	}
	// Same id while the first is running: bolt's lock refuses, quickly.
	start := time.Now()
	_, err = New(Config{ID: "n1", Dir: dir, Identity: c.identity("n1"), FSM: &listFSM{}, LogOutput: c.logs})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("second open of a live dir: %v after %v", err, time.Since(start))
	}
	// A certificate for another node is refused at start.
	_, err = New(Config{ID: "n3", Dir: t.TempDir(), Identity: c.identity("n4"), FSM: &listFSM{}, LogOutput: c.logs})
	if err == nil || !strings.Contains(err.Error(), "certificate names") {
		t.Fatalf("mismatched certificate: %v", err)
	}
}

func TestApplyBatch(t *testing.T) {
	c := newTestCluster(t, nil)
	ids := c.bootstrap(3)
	l := c.leader()
	cmds := make([][]byte, 300)
	want := seq("x", 0, 300)
	for i := range cmds {
		cmds[i] = []byte(want[i])
	}
	cmds[7] = []byte("reject:7")
	want = slices.Delete(want, 7, 8)
	res, errs := l.ApplyBatch(context.Background(), cmds)
	var last uint64
	for i, r := range res {
		if errs[i] != nil {
			t.Fatalf("cmd %d: %v", i, errs[i])
		}
		if r.Index <= last {
			t.Fatalf("cmd %d at index %d after %d: out of order", i, r.Index, last)
		}
		last = r.Index
	}
	if _, ok := res[7].Response.(error); !ok {
		t.Fatalf("rejected command's response: %v", res[7].Response)
	}
	if res[299].Response != 299 {
		t.Fatalf("last response %v, want 299", res[299].Response)
	}
	c.converge(want, ids...)
	// A context that has already ended enqueues nothing, and says so.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Apply(ctx, []byte("late")); !errors.Is(err, context.Canceled) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("apply with a dead context: %v", err)
	}
	c.apply("y")
	c.converge(append(want, "y"), ids...)
}
