package agent

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// gatedProposer is a Proposer that, while down, blocks until the caller
// gives up: a cluster without quorum.
type gatedProposer struct {
	inner Proposer
	down  atomic.Bool
	tries atomic.Int64
}

func (g *gatedProposer) Propose(ctx context.Context, cmd metadata.Command) (*metadata.Result, error) {
	if g.down.Load() {
		g.tries.Add(1)
		<-ctx.Done()
		return nil, fmt.Errorf("no quorum: %w", ctx.Err())
	}
	return g.inner.Propose(ctx, cmd)
}

// TestProposerOutage: the agent executes a batch but cannot commit its
// completion (no quorum). Each attempt times out and is retried with
// backoff; when the cluster is back, the retry finds the kernel already at
// the batch's end and only completes it: nothing is executed twice.
func TestProposerOutage(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "pool0", 64*mib, 16*mib)
	g := &gatedProposer{inner: c}
	g.down.Store(true)
	r := newAgentRig(t, c, 0, func(cfg *Config) {
		cfg.Proposer = g
		cfg.ProposeTimeout = 100 * time.Millisecond
	})
	for i := 0; i < 5; i++ {
		c.createVolume(fmt.Sprintf("v%d", i), pool, 4*mib)
	}
	r.start()
	deadline := time.Now().Add(20 * time.Second)
	for g.tries.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d completion attempts", g.tries.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(c.fsm().PendingIntents(pool)); n != 5 {
		t.Fatalf("%d pending during the outage, want 5", n)
	}
	if ps := r.a.Pools(); len(ps) != 1 || ps[0].UUID != pool || !strings.Contains(ps[0].LastError, "no quorum") {
		t.Fatalf("pool status during the outage: %+v", ps)
	}
	g.down.Store(false)
	r.waitDrained(pool, 20*time.Second)
	r.checkKernel(pool)
	// The agent clears the error just after its completion committed.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ps := r.a.Pools()
		if len(ps) == 1 && ps[0].LastError == "" && len(ps[0].Quarantined) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool status after the outage: %+v", ps)
		}
	}
	st := r.a.Stats()
	if st.Errors < 3 || st.Intents != 5 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%d failed completion attempts during the outage; stats %+v", g.tries.Load(), st)
}
