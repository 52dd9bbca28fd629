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
