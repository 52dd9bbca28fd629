package thinpool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/dmtest"
)

// queueRecord is an in-memory Record with a queue of intents and batch
// completion, shaped like the cluster's Raft record: intent i of the queue
// moves the pool from TxnID+i to TxnID+i+1, and an abandon renumbers the
// intents after it.
type queueRecord struct {
	mu    sync.Mutex
	txn   uint64
	thins map[uint32]ThinRecord
	queue []Intent
	found []Finding
	// lose makes CompleteBatch fail without recording anything: a
	// completion proposed but never committed (the node died first).
	lose bool
}

func newQueueRecord() *queueRecord { return &queueRecord{thins: map[uint32]ThinRecord{}} }

func (r *queueRecord) Load(context.Context) (PoolState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := PoolState{Pool: "qb", TxnID: r.txn, Thins: map[uint32]ThinRecord{}, Queue: append([]Intent(nil), r.queue...),
		Quarantined: append([]Finding(nil), r.found...)}
	for id, t := range r.thins {
		st.Thins[id] = t
	}
	if len(r.queue) > 0 {
		in := r.queue[0]
		st.Pending = &in
	}
	return st, nil
}

// enqueue is what the leader does: record an intent at the queue's tail.
func (r *queueRecord) enqueue(in Intent) Intent {
	r.mu.Lock()
	defer r.mu.Unlock()
	in.Pool = "qb"
	in.FromTxn = r.txn + uint64(len(r.queue))
	in.ID = fmt.Sprintf("i%d", in.FromTxn)
	r.queue = append(r.queue, in)
	return in
}

func (r *queueRecord) Begin(_ context.Context, in Intent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in.FromTxn != r.txn+uint64(len(r.queue)) {
		return ErrIntentConflict
	}
	r.queue = append(r.queue, in)
	return nil
}

func (r *queueRecord) Complete(ctx context.Context, in Intent) error {
	return r.CompleteBatch(ctx, []Intent{in})
}

func (r *queueRecord) CompleteBatch(_ context.Context, batch []Intent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lose {
		return errCompletionLost
	}
	if len(batch) > len(r.queue) {
		return fmt.Errorf("%w: batch of %d, queue of %d", ErrIntentConflict, len(batch), len(r.queue))
	}
	for i, in := range batch {
		if r.queue[i].ID != in.ID {
			return fmt.Errorf("%w: batch intent %s is not queue entry %s", ErrIntentConflict, in.ID, r.queue[i].ID)
		}
	}
	st := PoolState{TxnID: r.txn, Thins: r.thins}
	for _, in := range batch {
		applyIntent(&st, in)
	}
	r.txn, r.queue = st.TxnID, r.queue[len(batch):]
	return nil
}

var errCompletionLost = errors.New("completion lost")

func (r *queueRecord) setLose(lose bool) {
	r.mu.Lock()
	r.lose = lose
	r.mu.Unlock()
}

func (r *queueRecord) Abandon(_ context.Context, in Intent, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.queue {
		if r.queue[i].ID == in.ID {
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			for j := i; j < len(r.queue); j++ {
				r.queue[j].FromTxn--
			}
			return nil
		}
	}
	return nil
}

func (r *queueRecord) Quarantine(_ context.Context, f Finding) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.found = append(r.found, f)
	return nil
}

func (r *queueRecord) SetThinSize(_ context.Context, id uint32, size uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.thins[id]
	t.SizeSectors = size
	r.thins[id] = t
	return nil
}

func (r *queueRecord) pending() []Intent {
	st, _ := r.Load(context.Background())
	return st.Queue
}

type batchFixture struct {
	t   *testing.T
	ctx context.Context
	env *dmtest.Env
	rig *poolRig
	rec *queueRecord
	fp  *Failpoints
	p   *Pool
}

func newBatchFixture(t *testing.T) *batchFixture {
	ctx := context.Background()
	env := dmtest.ForTest(t, testEngine())
	rig := newPoolRig(t, env, Config{Name: "qb"}, 4<<20, 64<<20)
	f := &batchFixture{t: t, ctx: ctx, env: env, rig: rig, rec: newQueueRecord(), fp: &Failpoints{}}
	f.open()
	t.Cleanup(func() {
		if err := rig.teardown(ctx, env, f.p); err != nil {
			t.Error(err)
		}
	})
	return f
}

// restart is a process crash and restart: the engine loses its devices,
// the kernel keeps them; the record (Raft's, in the cluster) survives.
func (f *batchFixture) restart() {
	f.env.Crash()
	if _, err := f.env.Reopen(); err != nil {
		f.t.Fatal(err)
	}
	f.fp = &Failpoints{}
	f.open()
}

func (f *batchFixture) open() {
	p, err := Open(f.ctx, f.rig.Cfg, Options{Control: f.env.Control(), Record: f.rec, Grower: f.rig.grower(f.env), Failpoints: f.fp})
	if err != nil {
		f.t.Fatal(err)
	}
	f.p = p
}

// kernel returns the pool's kernel transaction id and thin ids.
func (f *batchFixture) kernel() (uint64, map[uint32]bool) {
	f.t.Helper()
	ps, err := f.p.Status(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	ids, err := kernelThinIDs(f.ctx, f.p)
	if err != nil {
		f.t.Fatal(err)
	}
	return ps.TransactionID, ids
}

// agree asserts kernel and record agree on the transaction id and thin ids.
func (f *batchFixture) agree(wantTxn uint64, wantIDs ...uint32) {
	f.t.Helper()
	txn, ids := f.kernel()
	st, _ := f.rec.Load(f.ctx)
	if txn != wantTxn || st.TxnID != wantTxn {
		f.t.Fatalf("kernel txn %d, record txn %d; want %d", txn, st.TxnID, wantTxn)
	}
	if len(ids) != len(wantIDs) || len(st.Thins) != len(wantIDs) {
		f.t.Fatalf("kernel ids %v, record thins %v; want %v", ids, st.Thins, wantIDs)
	}
	for _, id := range wantIDs {
		if _, ok := st.Thins[id]; !ok || !ids[id] {
			f.t.Fatalf("thin %d: kernel %v record %v", id, ids[id], ok)
		}
	}
}

func TestExecuteBatch(t *testing.T) {
	t.Run("one-transaction-for-many", func(t *testing.T) {
		f := newBatchFixture(t)
		var batch []Intent
		for id := uint32(1); id <= 5; id++ {
			batch = append(batch, f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: id, SizeSectors: 2048}))
		}
		batch = append(batch, f.rec.enqueue(Intent{Op: OpSnapshot, ThinID: 6, Origin: 1, SizeSectors: 2048}))
		batch = append(batch, f.rec.enqueue(Intent{Op: OpDelete, ThinID: 2}))
		done, err := f.p.ExecuteBatch(f.ctx, batch)
		if err != nil || done != 7 {
			t.Fatalf("ExecuteBatch: done %d, %v", done, err)
		}
		f.agree(7, 1, 3, 4, 5, 6)
	})
	t.Run("crash-after-set-transaction-id-completes-on-retry", func(t *testing.T) {
		f := newBatchFixture(t)
		batch := []Intent{f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 1, SizeSectors: 2048}),
			f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 2, SizeSectors: 2048})}
		f.fp.ArmError(FPAfterSetTxn)
		if _, err := f.p.ExecuteBatch(f.ctx, batch); err == nil {
			t.Fatal("the failpoint did not fail the batch")
		}
		f.fp.Disarm(FPAfterSetTxn)
		if txn, _ := f.kernel(); txn != 2 || len(f.rec.pending()) != 2 {
			t.Fatalf("after the failpoint: kernel txn %d, %d pending; want 2, 2", txn, len(f.rec.pending()))
		}
		// The agent retries with a longer queue: the proven prefix is
		// completed, then the new intent runs.
		batch = append(batch, f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 3, SizeSectors: 2048}))
		done, err := f.p.ExecuteBatch(f.ctx, batch)
		if err != nil || done != 3 {
			t.Fatalf("retry: done %d, %v", done, err)
		}
		f.agree(3, 1, 2, 3)
	})
	t.Run("reconcile-completes-an-executed-prefix", func(t *testing.T) {
		f := newBatchFixture(t)
		batch := []Intent{f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 1, SizeSectors: 2048}),
			f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 2, SizeSectors: 2048})}
		f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 3, SizeSectors: 2048}) // queued, not in the batch
		f.fp.ArmError(FPAfterSetTxn)
		if _, err := f.p.ExecuteBatch(f.ctx, batch); err == nil {
			t.Fatal("the failpoint did not fail the batch")
		}
		f.restart()
		rep := f.p.LastReconcile()
		if len(rep.Findings) != 0 || len(f.rec.pending()) != 1 {
			t.Fatalf("reconcile: %+v, %d pending; want no findings and the third intent pending", rep, len(f.rec.pending()))
		}
		if _, err := f.p.ExecuteBatch(f.ctx, f.rec.pending()); err != nil {
			t.Fatal(err)
		}
		f.agree(3, 1, 2, 3)
	})
	t.Run("messages-without-set-transaction-id-are-redone", func(t *testing.T) {
		f := newBatchFixture(t)
		batch := []Intent{f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 1, SizeSectors: 2048}),
			f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 2, SizeSectors: 2048})}
		f.fp.ArmError(FPAfterMessage)
		if _, err := f.p.ExecuteBatch(f.ctx, batch); err == nil {
			t.Fatal("the failpoint did not fail the batch")
		}
		f.restart()
		if rep := f.p.LastReconcile(); len(rep.Findings) != 0 {
			t.Fatalf("thin ids of queued intents were quarantined: %+v", rep.Findings)
		}
		if done, err := f.p.ExecuteBatch(f.ctx, f.rec.pending()); err != nil || done != 2 {
			t.Fatalf("redo: done %d, %v", done, err)
		}
		f.agree(2, 1, 2)
	})
	t.Run("refusal-ends-the-batch-and-renumbers", func(t *testing.T) {
		f := newBatchFixture(t)
		batch := []Intent{f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 1, SizeSectors: 2048}),
			f.rec.enqueue(Intent{Op: OpSnapshot, ThinID: 2, Origin: 99, SizeSectors: 2048}), // no origin 99
			f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 3, SizeSectors: 2048})}
		done, err := f.p.ExecuteBatch(f.ctx, batch)
		if done != 1 || !errors.Is(err, ErrRefused) {
			t.Fatalf("done %d, %v; want 1 and ErrRefused", done, err)
		}
		rest := f.rec.pending()
		if len(rest) != 1 || rest[0].ThinID != 3 || rest[0].FromTxn != 1 {
			t.Fatalf("queue after the refusal: %+v; want thin 3 renumbered to start at txn 1", rest)
		}
		if done, err := f.p.ExecuteBatch(f.ctx, rest); err != nil || done != 1 {
			t.Fatalf("rest: done %d, %v", done, err)
		}
		f.agree(2, 1, 3)
	})
	t.Run("foreign-transaction-id-quarantines", func(t *testing.T) {
		f := newBatchFixture(t)
		batch := []Intent{f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 1, SizeSectors: 2048})}
		if _, err := f.env.Control().Message(f.ctx, f.p.DMName(), 0, dm.SetTransactionIDMsg(0, 5)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.p.ExecuteBatch(f.ctx, batch); !errors.Is(err, ErrQuarantined) {
			t.Fatalf("batch after a foreign set_transaction_id: %v, want ErrQuarantined", err)
		}
		if _, ids := f.kernel(); len(ids) != 0 {
			t.Fatalf("quarantined batch touched the kernel: %v", ids)
		}
		// Put the pool back for the teardown's metadata check.
		if _, err := f.env.Control().Message(f.ctx, f.p.DMName(), 0, dm.SetTransactionIDMsg(5, 0)); err != nil {
			t.Fatal(err)
		}
	})
}
