package raftnode

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// voters returns the sorted voter and non-voter ids of n's configuration.
func voters(t *testing.T, n *Node) (v, nv []string) {
	t.Helper()
	servers, _, err := n.Servers()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.Voter {
			v = append(v, s.ID)
		} else {
			nv = append(nv, s.ID)
		}
	}
	slices.Sort(v)
	slices.Sort(nv)
	return v, nv
}

// caughtUp is the test's health signal: running and applied up to mark.
// mark is fixed for a whole rebalance, so the configuration entries the
// rebalance itself commits do not make a voter look momentarily behind
// (health must not flap with every entry, or the policy churns).
func (c *testCluster) caughtUp(mark uint64) func(string) bool {
	return func(id string) bool {
		n := c.node(id)
		return n != nil && n.Raft().AppliedIndex() >= mark
	}
}

func TestMembershipLifecycle(t *testing.T) {
	c := newTestCluster(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n1 := c.start("n1")
	if err := n1.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	l := c.leader("n1")
	// A single voter cannot leave, be removed or demoted.
	for name, err := range map[string]error{
		"remove": l.Remove(ctx, "n1"),
		"demote": l.Demote(ctx, "n1"),
		"leave":  l.Leave(ctx, nil),
	} {
		if !errors.Is(err, ErrLastVoter) {
			t.Errorf("%s of the last voter: %v", name, err)
		}
	}
	acked := seq("a", 0, 20)
	for _, cmd := range acked {
		c.apply(cmd)
	}

	all := []string{"n1"}
	join := func(ids ...string) {
		for _, id := range ids {
			n := c.start(id)
			if err := c.leader(all...).Join(ctx, Peer{ID: id, Addr: n.Addr()}); err != nil {
				t.Fatalf("join %s: %v", id, err)
			}
			all = append(all, id)
		}
	}
	// rebalanceUntil runs the policy until ok holds. Members count as
	// healthy once caught up, which a fresh joiner is only after a moment.
	rebalanceUntil := func(ok func(v, nv []string) bool) {
		t.Helper()
		c.converge(acked, all...)
		mark := c.leader(all...).Raft().CommitIndex()
		// Every live member reaches mark before the policy looks, so a
		// voter is never judged by a moment of lag.
		waitFor(t, 10*time.Second, func() bool {
			for _, id := range all {
				if n := c.node(id); n != nil && n.Raft().AppliedIndex() < mark {
					return false
				}
			}
			return true
		})
		deadline := time.Now().Add(10 * time.Second)
		for {
			// A leadership change mid-way (a loaded machine) is retried on
			// the new leader; any other error is a failure.
			l := c.leader(all...)
			var nl *NotLeaderError
			if _, err := l.Rebalance(ctx, c.caughtUp(mark)); err != nil && !errors.As(err, &nl) && !errors.Is(err, ErrOutcomeUnknown) {
				t.Fatalf("rebalance: %v", err)
			}
			v, nv := voters(t, l)
			if ok(v, nv) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("rebalance stuck at voters %v non-voters %v", v, nv)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rebalance := func(want []string) {
		t.Helper()
		rebalanceUntil(func(v, _ []string) bool { return slices.Equal(v, want) })
	}

	join("n2")
	if v, nv := voters(t, l); !slices.Equal(v, []string{"n1"}) || !slices.Equal(nv, []string{"n2"}) {
		t.Fatalf("after join n2: voters %v non-voters %v", v, nv)
	}
	rebalance([]string{"n1"}) // two members: still one voter
	join("n3")
	rebalance([]string{"n1", "n2", "n3"})
	join("n4")
	rebalance([]string{"n1", "n2", "n3"})
	join("n5")
	rebalance([]string{"n1", "n2", "n3", "n4", "n5"})

	// Join is idempotent: same peer again changes nothing.
	_, idx0, _ := l.Servers()
	if err := c.leader(all...).Join(ctx, Peer{ID: "n3", Addr: c.node("n3").Addr()}); err != nil {
		t.Fatal(err)
	}
	if _, idx1, _ := l.Servers(); idx1 != idx0 {
		t.Fatalf("repeated join changed the configuration (%d -> %d)", idx0, idx1)
	}

	more := seq("b", 0, 20)
	for _, cmd := range more {
		c.apply(cmd)
	}
	acked = append(acked, more...)
	c.converge(acked, all...)

	// The leader leaves gracefully: leadership moves without an election
	// timeout, then the new leader removes it.
	old := c.leader(all...)
	ask := func(ctx context.Context, leader Peer, id string) error {
		n := c.node(leader.ID)
		if n == nil {
			return errors.New("leader not running")
		}
		return n.Remove(ctx, id)
	}
	if err := old.Leave(ctx, ask); err != nil {
		t.Fatalf("leave %s: %v", old.ID(), err)
	}
	c.stop(old.ID())
	all = slices.DeleteFunc(all, func(s string) bool { return s == old.ID() })
	nl := c.leader(all...)
	if v, nv := voters(t, nl); len(v)+len(nv) != 4 || slices.Contains(v, old.ID()) || slices.Contains(nv, old.ID()) {
		t.Fatalf("after leave of %s: voters %v non-voters %v", old.ID(), v, nv)
	}
	rebalanceUntil(func(v, nv []string) bool { return len(v) == 3 && len(nv) == 1 })

	// A voter dies; the leader removes it and the cluster keeps committing.
	var dead string
	for _, id := range all {
		if id != nl.ID() {
			if v, _ := voters(t, nl); slices.Contains(v, id) {
				dead = id
				break
			}
		}
	}
	// The operational order: the policy first swaps the dead voter for the
	// healthy non-voter (quorum never rests on two voters), then the dead
	// node is removed.
	c.stop(dead)
	all = slices.DeleteFunc(all, func(s string) bool { return s == dead })
	rebalanceUntil(func(v, nv []string) bool {
		return len(v) == 3 && !slices.Contains(v, dead) && slices.Equal(nv, []string{dead})
	})
	nl = c.leader(all...)
	if err := nl.Remove(ctx, dead); err != nil {
		t.Fatalf("remove dead %s: %v", dead, err)
	}
	if err := nl.Remove(ctx, dead); err != nil {
		t.Fatalf("second remove of %s: %v", dead, err)
	}
	if v, nv := voters(t, nl); len(v) != 3 || len(nv) != 0 {
		t.Fatalf("after remove-dead: voters %v non-voters %v", v, nv)
	}
	last := seq("c", 0, 10)
	for _, cmd := range last {
		c.apply(cmd, all...)
	}
	acked = append(acked, last...)
	c.converge(acked, all...)
}

func TestVoterPolicy(t *testing.T) {
	for n, want := range map[int]int{0: 1, 1: 1, 2: 1, 3: 3, 4: 3, 5: 5, 6: 5, 9: 5} {
		if got := VoterTarget(n); got != want {
			t.Errorf("VoterTarget(%d) = %d, want %d", n, got, want)
		}
	}
	m := func(id string, voter, healthy bool) Member {
		return Member{Peer: Peer{ID: id, Voter: voter}, Healthy: healthy}
	}
	cases := []struct {
		name    string
		members []Member
		leader  string
		want    []Change
	}{
		{"three fresh joiners", []Member{m("a", true, true), m("b", false, true), m("c", false, true)}, "a",
			[]Change{{"b", true}, {"c", true}}},
		{"unhealthy joiner waits", []Member{m("a", true, true), m("b", false, true), m("c", false, false)}, "a",
			[]Change{{"b", true}}},
		{"dead voter, no spare: keep it", []Member{m("a", true, true), m("b", true, true), m("c", true, false)}, "a", nil},
		{"dead voter replaced, then demoted", []Member{m("a", true, true), m("b", true, true), m("c", true, false), m("d", false, true)}, "a",
			[]Change{{"d", true}, {"c", false}}},
		{"shrink to 3, never the leader", []Member{m("a", true, true), m("b", true, true), m("c", true, true), m("z", true, true)}, "z",
			[]Change{{"c", false}}},
		{"two voters become one", []Member{m("a", true, true), m("b", true, true)}, "b", []Change{{"a", false}}},
		{"grow to five", []Member{m("a", true, true), m("b", true, true), m("c", true, true), m("d", false, true), m("e", false, true), m("f", false, true)}, "a",
			[]Change{{"d", true}, {"e", true}}},
		{"unhealthy leader still votes", []Member{m("a", true, false), m("b", false, true), m("c", false, true)}, "a",
			[]Change{{"b", true}, {"c", true}}},
	}
	for _, tc := range cases {
		if got := PlanVoters(tc.members, tc.leader); !slices.Equal(got, tc.want) {
			t.Errorf("%s: plan %v, want %v", tc.name, got, tc.want)
		}
	}
}
