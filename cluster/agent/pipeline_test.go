package agent

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// completionGate is a Proposer that holds intent_complete commands until
// opened; every other command goes through.
type completionGate struct {
	inner Proposer
	open  chan struct{}
	held  atomic.Int64
}

func (g *completionGate) Propose(ctx context.Context, cmd metadata.Command) (*metadata.Result, error) {
	if cmd.Type == metadata.CmdIntentComplete {
		g.held.Add(1)
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.inner.Propose(ctx, cmd)
}

// TestPipelineExecutesBehindACompletion: while a batch's completion is
// held, the agent executes the next batch from the kernel's new
// transaction id; once completions go through, record and kernel agree.
func TestPipelineExecutesBehindACompletion(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "pool0", 64*mib, 16*mib)
	g := &completionGate{inner: c, open: make(chan struct{})}
	r := newAgentRig(t, c, 0, func(cfg *Config) { cfg.Proposer, cfg.Pipeline = g, 2 })
	r.start()
	kernelTxn := func() uint64 {
		run := r.a.pool(pool)
		if run == nil {
			return 0
		}
		ps, err := run.pool.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return ps.TransactionID
	}
	waitKernel := func(want uint64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); kernelTxn() < want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("kernel txn %d, want %d", kernelTxn(), want)
			}
		}
	}
	c.createVolume("v0", pool, 4*mib)
	waitKernel(1)
	// The second batch runs although the first completion is held.
	c.createVolume("v1", pool, 4*mib)
	waitKernel(2)
	var recTxn uint64
	c.fsm().Read(func(v metadata.View) { p, _ := v.Pool(pool); recTxn = p.TxnID })
	if recTxn != 0 || g.held.Load() == 0 {
		t.Fatalf("record txn %d with %d completions held; want 0 and some", recTxn, g.held.Load())
	}
	if b, n := r.a.pool(pool).rec.Outstanding(); b != 2 || n != 2 {
		t.Fatalf("outstanding %d batches, %d intents; want 2 and 2", b, n)
	}
	// Queued behind a full pipeline: executed once completions go through.
	c.createVolume("v2", pool, 4*mib)
	c.createVolume("v3", pool, 4*mib)
	close(g.open)
	r.waitDrained(pool, 20*time.Second)
	r.checkKernel(pool)
	if st := r.waitStats(func(st Stats) bool { return st.Intents >= 4 }); st.Intents != 4 {
		t.Fatalf("stats %+v, want 4 intents completed", st)
	}
}
