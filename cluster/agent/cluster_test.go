package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// TestThreeNodes: three Raft voters, agents on two of them, one pool each.
// Each agent executes only its own pool's queue, proposing through the
// leader; every replica ends with the same transaction ids, and each
// node's kernel equals the record.
func TestThreeNodes(t *testing.T) {
	c := newTestCluster(t, 3)
	pools := []string{c.addPool(1, "p2", 64*mib, 16*mib), c.addPool(2, "p3", 64*mib, 16*mib)}
	rigs := []*agentRig{newAgentRig(t, c, 1, nil), newAgentRig(t, c, 2, nil)}
	for _, r := range rigs {
		r.start()
	}
	for i := 0; i < 30; i++ {
		for j, p := range pools {
			v := c.createVolume(fmt.Sprintf("v%d-%d", j, i), p, 4*mib)
			if i%3 == 0 {
				c.snapshot(v, fmt.Sprintf("s%d-%d", j, i))
			}
		}
	}
	for j, r := range rigs {
		r.waitDrained(pools[j], 30*time.Second)
		r.checkKernel(pools[j])
		if run := r.a.pool(pools[1-j]); run != nil {
			t.Fatalf("agent of node %d opened pool %s of another node", r.i+1, pools[1-j])
		}
	}
	// Every replica converges on the same pool records.
	deadline := time.Now().Add(20 * time.Second)
	for {
		same := true
		var want [2]uint64
		for k, f := range c.fsms {
			for j, p := range pools {
				var pl metadata.Pool
				f.Read(func(v metadata.View) { pl, _ = v.Pool(p) })
				if k == 0 {
					want[j] = pl.TxnID
				} else if pl.TxnID != want[j] {
					same = false
				}
			}
		}
		if same && want[0] == 40 && want[1] == 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas disagree or are short: %v", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLeaderLoss: agents on the two followers keep executing while the
// leader is shut down mid-load: their completions fail or are retried
// through the new leader (a repeated completion is recognised), and every
// queue drains with the kernel equal to the record.
func TestLeaderLoss(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := -1
	for i, nd := range c.nodes {
		if nd.IsLeader() {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no leader")
	}
	var followers []int
	for i := range c.nodes {
		if i != leader {
			followers = append(followers, i)
		}
	}
	var pools []string
	var rigs []*agentRig
	for k, i := range followers {
		pools = append(pools, c.addPool(i, fmt.Sprintf("p%d", k), 64*mib, 16*mib))
		rigs = append(rigs, newAgentRig(t, c, i, nil))
	}
	for _, r := range rigs {
		r.start()
	}
	// Proposals and reads go through a follower's replica from now on.
	c.home = followers[0]
	for i := 0; i < 40; i++ {
		if i == 15 {
			if err := c.nodes[leader].Shutdown(); err != nil {
				t.Fatal(err)
			}
		}
		for k, p := range pools {
			c.createVolume(fmt.Sprintf("v%d-%d", k, i), p, 4*mib)
		}
	}
	for k, r := range rigs {
		r.waitDrained(pools[k], 60*time.Second)
		r.checkKernel(pools[k])
		var p metadata.Pool
		c.fsms[r.i].Read(func(v metadata.View) { p, _ = v.Pool(pools[k]) })
		if p.TxnID != 40 {
			t.Fatalf("pool %d: txn %d, want 40", k, p.TxnID)
		}
	}
}
