package agent

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// orderFixture is a one-node cluster with a pool that no agent runs, whose
// queue the test completes by hand through the CompletionOrder.
type orderFixture struct {
	t    *testing.T
	c    *testCluster
	pool string
}

func newOrderFixture(t *testing.T) *orderFixture {
	c := newTestCluster(t, 1)
	f := &orderFixture{t: t, c: c, pool: c.addPool(0, "pool0", 64*mib, 16*mib)}
	for _, name := range []string{"v0", "v1", "v2", "v3"} {
		c.createVolume(name, f.pool, 4*mib)
	}
	return f
}

// completion is the intent_complete of queue[from:to].
func (f *orderFixture) completion(from, to int) metadata.Command {
	f.t.Helper()
	q := f.c.fsm().PendingIntents(f.pool)
	var ids []string
	for _, in := range q[from:to] {
		ids = append(ids, in.ID)
	}
	data, err := metadata.Encode(metadata.CmdIntentComplete, time.Now(), metadata.IntentComplete{Pool: f.pool, FromTxn: q[from].FromTxn, Intents: ids})
	if err != nil {
		f.t.Fatal(err)
	}
	var cmd metadata.Command
	if err := json.Unmarshal(data, &cmd); err != nil {
		f.t.Fatal(err)
	}
	return cmd
}

func (f *orderFixture) txn() uint64 {
	var txn uint64
	f.c.fsm().Read(func(v metadata.View) {
		p, _ := v.Pool(f.pool)
		txn = p.TxnID
	})
	return txn
}

// TestCompletionOrder: a pool's second completion that reaches the leader
// before its first waits for it and then lands; without the order the FSM
// would refuse it (its from_txn is not the pool's).
func TestCompletionOrder(t *testing.T) {
	f := newOrderFixture(t)
	ctx := context.Background()
	start := f.txn()
	c1, c2 := f.completion(0, 2), f.completion(2, 4)
	second := make(chan *metadata.Result, 1)
	go func() {
		res, err := f.c.Propose(ctx, c2)
		if err != nil {
			t.Error(err)
		}
		second <- res
	}()
	deadline := time.Now().Add(10 * time.Second)
	for f.c.orders[0].waiters() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the second completion never waited for the first")
		}
		time.Sleep(time.Millisecond)
	}
	res, err := f.c.Propose(ctx, c1)
	if err != nil || res.Err != nil {
		t.Fatalf("first completion: %v %v", err, res)
	}
	if res2 := <-second; res2 == nil || res2.Err != nil {
		t.Fatalf("second completion: %v", res2)
	}
	if got := f.txn(); got != start+4 {
		t.Fatalf("pool transaction %d, want %d", got, start+4)
	}
}

// TestCompletionOrderGivesUp: a completion whose predecessor never comes
// goes to the log after the bound, and the FSM refuses it there.
func TestCompletionOrderGivesUp(t *testing.T) {
	f := newOrderFixture(t)
	start := f.txn()
	res, err := f.c.Propose(context.Background(), f.completion(2, 4))
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil || res.Err.Code != metadata.CodeConflict {
		t.Fatalf("out-of-order completion: %v, want a conflict", res)
	}
	if got := f.txn(); got != start {
		t.Fatalf("pool transaction moved to %d", got)
	}
}
