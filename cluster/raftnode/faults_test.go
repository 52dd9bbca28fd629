package raftnode

import (
	"context"
	"errors"
	"github.com/hashicorp/raft"
	"os"
	"slices"
	"testing"
	"time"
)

// TestPartitionLeader isolates the leader with the FaultLayer: the majority
// elects a new leader and keeps committing, the old leader steps down and
// commits nothing, and after healing everyone converges on exactly the
// acknowledged commands.
func TestPartitionLeader(t *testing.T) {
	c := newTestCluster(t, nil)
	ids := c.bootstrap(3)
	acked := seq("a", 0, 30)
	for _, cmd := range acked {
		c.apply(cmd)
	}
	old := c.leader()
	var rest []string
	for _, id := range ids {
		if id != old.ID() {
			rest = append(rest, id)
		}
	}
	c.faults.Isolate(old.ID(), ids...)
	if !c.faults.IsCut(old.ID(), rest[0]) || len(c.faults.Cuts()) != 2 {
		t.Fatalf("cuts %v", c.faults.Cuts())
	}

	nl := c.leader(rest...)
	if nl.ID() == old.ID() {
		t.Fatal("isolated node still leads the majority")
	}
	// The old leader loses its lease and steps down.
	waitFor(t, 5*time.Second, func() bool { return !old.IsLeader() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := old.Apply(ctx, []byte("lost"))
	cancel()
	var notLeader *NotLeaderError
	if !errors.As(err, &notLeader) && !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("apply on the isolated old leader: %v", err)
	}
	for _, cmd := range seq("b", 0, 30) {
		c.apply(cmd, rest...)
		acked = append(acked, cmd)
	}
	c.converge(acked, rest...)
	if got := c.fsm(old.ID()).list(); len(got) != 30 {
		t.Fatalf("isolated node applied %d commands, want the 30 from before", len(got))
	}

	c.faults.Heal()
	if len(c.faults.Cuts()) != 0 {
		t.Fatal("heal left cuts")
	}
	c.leader()
	c.apply("healed")
	acked = append(acked, "healed")
	c.converge(acked, ids...)
	for _, id := range ids {
		if slices.Contains(c.fsm(id).list(), "lost") {
			t.Fatalf("%s applied a command that was never acknowledged", id)
		}
	}
}

// TestPartitionMinorityFollower cuts one follower off and back: the
// majority is undisturbed, the follower catches up after healing.
func TestPartitionMinorityFollower(t *testing.T) {
	c := newTestCluster(t, nil)
	ids := c.bootstrap(3)
	l := c.leader()
	var f string
	for _, id := range ids {
		if id != l.ID() {
			f = id
			break
		}
	}
	c.apply("a")
	term := l.Raft().CurrentTerm()
	majority := slices.DeleteFunc(slices.Clone(ids), func(s string) bool { return s == f })
	c.faults.Partition([]string{f}, majority)
	acked := []string{"a"}
	for _, cmd := range seq("b", 0, 50) {
		c.apply(cmd, majority...)
		acked = append(acked, cmd)
	}
	if got := c.leader(majority...); got.ID() != l.ID() || got.Raft().CurrentTerm() != term {
		t.Fatalf("cutting a follower moved leadership to %s term %d", got.ID(), got.Raft().CurrentTerm())
	}
	c.converge(acked, majority...)
	if n := len(c.fsm(f).list()); n > 1 {
		t.Fatalf("cut follower applied %d commands", n)
	}
	c.faults.HealLink(f, ids[0])
	c.faults.Heal()
	c.converge(acked, ids...)
}

// TestFaultsCloseOpenConnections: cutting a link closes the connections
// already open across it, not only new dials.
func TestFaultsCloseOpenConnections(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(2)
	a, b := c.node("n1"), c.node("n2")
	layer := NewFaultLayer(a.TLS(), "n1", c.faults)
	conn, err := layer.Dial(raftAddr(b), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.faults.Cut("n1", "n2")
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	start := time.Now()
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("read on a cut connection: %v after %v, want closed at once", err, time.Since(start))
	}
	if _, err := layer.Dial(raftAddr(b), time.Second); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("dial across a cut: %v", err)
	}
	c.faults.Heal()
	conn, err = layer.Dial(raftAddr(b), time.Second)
	if err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
	conn.Close()
}

func raftAddr(n *Node) raft.ServerAddress { return raft.ServerAddress(n.Addr()) }
