package thinpool

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/dmtest"
)

// reconcileFixture is a pool with two acknowledged volumes (thin 1 written,
// thin 2 empty) at transaction 2, on the engine of -thinpool.engine.
type reconcileFixture struct {
	t    *testing.T
	ctx  context.Context
	env  *dmtest.Env
	rig  *poolRig
	pool *Pool
	img1 volumeImage
}

func newReconcileFixture(t *testing.T, name string) *reconcileFixture {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	env := dmtest.ForTest(t, testEngine())
	rig := newPoolRig(t, env, Config{Name: name}, 4<<20, 64<<20)
	f := &reconcileFixture{t: t, ctx: ctx, env: env, rig: rig, pool: rig.mustOpen(t, ctx, env)}
	if err := f.pool.CreateThin(ctx, 1, crashVolSects); err != nil {
		t.Fatal(err)
	}
	if err := f.pool.CreateThin(ctx, 2, crashVolSects); err != nil {
		t.Fatal(err)
	}
	dev, err := f.pool.OpenThin(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.img1 = make(volumeImage, crashVolBytes)
	if err := writeVolume(dev, f.img1, 7, crashBlock, 3*crashBlock); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// raw sends a pool message behind thinraft's back, as an operator or a
// foreign tool would.
func (f *reconcileFixture) raw(msg string) {
	f.t.Helper()
	if _, err := f.env.Control().Message(f.ctx, f.pool.DMName(), 0, msg); err != nil {
		f.t.Fatalf("raw message %q: %v", msg, err)
	}
}

func (f *reconcileFixture) status() dm.PoolStatus {
	f.t.Helper()
	ps, err := f.pool.Status(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return ps
}

func (f *reconcileFixture) record() PoolState {
	f.t.Helper()
	rec, err := f.rig.record()
	if err != nil {
		f.t.Fatal(err)
	}
	st, err := rec.Load(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// wantQuarantined: Reconcile reports exactly one finding of kind (about
// thin id when id >= 0), changes are refused with ErrQuarantined, reads
// work, and neither the kernel's thin ids nor its transaction id nor the
// record were changed by reconcile.
func (f *reconcileFixture) wantQuarantined(kind FindingKind, id int64) {
	t := f.t
	t.Helper()
	before := f.status()
	kernelBefore, err := kernelThinIDs(f.ctx, f.pool)
	if err != nil {
		t.Fatal(err)
	}
	recBefore := f.record()

	rep, err := f.pool.Reconcile(f.ctx)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != kind || (id >= 0 && rep.Findings[0].ThinID != uint32(id)) {
		t.Fatalf("findings %v, want one %s about thin %d", rep.Findings, kind, id)
	}
	t.Logf("finding: %s", rep.Findings[0])
	if len(rep.Actions) != 0 {
		t.Errorf("reconcile acted on an unexplained state: %v", rep.Actions)
	}
	if q := f.pool.Quarantined(); len(q) != 1 || q[0].Kind != kind {
		t.Errorf("Quarantined() = %v", q)
	}
	if st := f.record(); len(st.Quarantined) == 0 || st.Quarantined[len(st.Quarantined)-1].Kind != kind {
		t.Errorf("the finding is not in the record: %v", st.Quarantined)
	}

	// Changes are refused, naming the finding.
	for what, err := range map[string]error{
		"create":   f.pool.CreateThin(f.ctx, 50, crashVolSects),
		"snapshot": f.pool.Snapshot(f.ctx, 51, 1),
		"delete":   f.pool.Delete(f.ctx, 2),
		"resize":   f.pool.ResizeThin(f.ctx, 1, 2*crashVolSects),
	} {
		if !errors.Is(err, ErrQuarantined) || !strings.Contains(err.Error(), string(kind)) {
			t.Errorf("%s on a quarantined pool: %v, want ErrQuarantined naming %s", what, err, kind)
		}
	}
	// Reads work.
	if err := checkVolume(f.ctx, f.pool, 1, f.img1); err != nil {
		t.Errorf("read from a quarantined pool: %v", err)
	}
	if _, err := f.pool.Usage(f.ctx); err != nil {
		t.Errorf("usage of a quarantined pool: %v", err)
	}
	if _, err := f.pool.Space(f.ctx); err != nil {
		t.Errorf("space of a quarantined pool: %v", err)
	}

	// Nothing was changed or deleted, in the kernel or the record.
	after := f.status()
	if after.TransactionID != before.TransactionID {
		t.Errorf("kernel transaction moved from %d to %d", before.TransactionID, after.TransactionID)
	}
	kernelAfter, err := kernelThinIDs(f.ctx, f.pool)
	if err != nil {
		t.Fatal(err)
	}
	if idList(kernelAfter) != idList(kernelBefore) {
		t.Errorf("kernel thin ids changed from %s to %s", idList(kernelBefore), idList(kernelAfter))
	}
	recAfter := f.record()
	if recAfter.TxnID != recBefore.TxnID || fmt.Sprint(recAfter.Thins) != fmt.Sprint(recBefore.Thins) || !reflect.DeepEqual(recAfter.Pending, recBefore.Pending) {
		t.Errorf("record changed: %+v -> %+v", recBefore, recAfter)
	}

	// A restart finds the same thing: quarantine is not forgotten.
	ctl, err := f.env.Restart()
	if err != nil {
		t.Fatal(err)
	}
	_ = ctl
	p, err := f.rig.open(f.ctx, f.env, nil)
	if err != nil {
		t.Fatalf("open after restart: %v", err)
	}
	f.pool = p
	if q := p.Quarantined(); len(q) != 1 || q[0].Kind != kind {
		t.Errorf("after a restart: quarantine %v, want %s", q, kind)
	}
}

// resolve applies an operator's fix with raw messages; Reconcile must then
// find nothing and the pool take changes again.
func (f *reconcileFixture) resolve(msgs ...string) {
	t := f.t
	t.Helper()
	for _, m := range msgs {
		f.raw(m)
	}
	rep, err := f.pool.Reconcile(f.ctx)
	if err != nil || len(rep.Findings) != 0 {
		t.Fatalf("reconcile after the fix: %+v, %v", rep, err)
	}
	if err := f.pool.CreateThin(f.ctx, 60, crashVolSects); err != nil {
		t.Fatalf("create after the fix: %v", err)
	}
	if err := f.rig.teardown(f.ctx, f.env, f.pool); err != nil {
		t.Error(err)
	}
}

// TestReconcileQuarantine: states reconcile cannot explain are reported and
// quarantined, never guessed at or deleted; an operator's fix lifts it.
func TestReconcileQuarantine(t *testing.T) {
	t.Run("unknown-thin-id", func(t *testing.T) {
		f := newReconcileFixture(t, "rq1")
		// A thin id the record never had, made behind thinraft's back
		// (no transaction id change).
		f.raw(dm.CreateThinMsg(9))
		f.wantQuarantined(FindingUnknownThin, 9)
		// The thin is still there: nothing was deleted.
		ids, err := kernelThinIDs(f.ctx, f.pool)
		if err != nil || !ids[9] {
			t.Fatalf("planted thin 9 gone (%v): reconcile must not delete what it does not know", err)
		}
		// Operator's fix (docs/repair.md): it was garbage; delete it.
		f.resolve(dm.DeleteMsg(9))
	})
	t.Run("txn-drift-2", func(t *testing.T) {
		f := newReconcileFixture(t, "rq2")
		f.raw(dm.SetTransactionIDMsg(2, 4))
		f.wantQuarantined(FindingTxnDrift, -1)
		// The record is authoritative here: put the kernel back.
		f.resolve(dm.SetTransactionIDMsg(4, 2))
	})
	t.Run("txn-drift-1-without-intent", func(t *testing.T) {
		f := newReconcileFixture(t, "rq3")
		// Off by one, but no intent is pending: not explainable either.
		f.raw(dm.SetTransactionIDMsg(2, 3))
		f.wantQuarantined(FindingTxnDrift, -1)
		f.resolve(dm.SetTransactionIDMsg(3, 2))
	})
	t.Run("recorded-thin-missing", func(t *testing.T) {
		f := newReconcileFixture(t, "rq4")
		if err := f.pool.DeactivateThin(f.ctx, 2); err != nil {
			t.Fatal(err)
		}
		f.raw(dm.DeleteMsg(2))
		f.wantQuarantined(FindingMissingThin, 2)
		// Thin 2 was empty: recreating the id restores what the record
		// says (a volume with data would be restored from a backup).
		f.resolve(dm.CreateThinMsg(2))
	})
	t.Run("foreign-txn-bump-then-create", func(t *testing.T) {
		f := newReconcileFixture(t, "rq6")
		// Someone moves the transaction id by one; the next create must
		// not take the kernel's T+1 for its own completed step.
		f.raw(dm.SetTransactionIDMsg(2, 3))
		err := f.pool.CreateThin(f.ctx, 3, crashVolSects)
		if !errors.Is(err, ErrQuarantined) {
			t.Fatalf("create after a foreign transaction bump: %v, want ErrQuarantined", err)
		}
		if st := f.record(); st.TxnID != 2 || st.Thins[3] != (ThinRecord{}) {
			t.Fatalf("the record acknowledged a volume the kernel lacks: %+v", st)
		}
		f.wantQuarantined(FindingTxnDrift, 3)
		// Put the kernel back; the pending create is then redone.
		f.resolve(dm.SetTransactionIDMsg(3, 2))
		if st := f.record(); st.TxnID != 4 || st.Pending != nil {
			t.Errorf("after the fix: %+v", st)
		}
	})
	t.Run("pending-intent-with-drift", func(t *testing.T) {
		f := newReconcileFixture(t, "rq5")
		// A pending intent explains one step, not two.
		fp := &Failpoints{}
		f.pool.fp = fp
		fp.ArmError(FPBeforeMessage)
		if err := f.pool.CreateThin(f.ctx, 3, crashVolSects); err == nil {
			t.Fatal("failpoint did not fail the create")
		}
		fp.Disarm(FPBeforeMessage)
		f.raw(dm.SetTransactionIDMsg(2, 4))
		rep, err := f.pool.Reconcile(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Findings) != 1 || rep.Findings[0].Kind != FindingTxnDrift {
			t.Fatalf("findings %v, want a transaction drift", rep.Findings)
		}
		if st := f.record(); st.Pending == nil || st.TxnID != 2 {
			t.Errorf("the pending intent was touched: %+v", st)
		}
		if ids, _ := kernelThinIDs(f.ctx, f.pool); ids[3] {
			t.Error("reconcile redid an intent on a drifted pool")
		}
		if err := f.rig.teardown(f.ctx, f.env, f.pool); err != nil {
			t.Error(err)
		}
	})
}

// TestReconcileRedo: an operation that fails at a step boundary (no crash:
// the failpoint returns an error) leaves its intent pending; Reconcile
// finishes it from wherever it stopped, and the pool is consistent again.
func TestReconcileRedo(t *testing.T) {
	cases := []struct {
		fp     Failpoint
		op     string
		action string // prefix of Reconcile's action
	}{
		{FPBeforeMessage, "create", "redo"},
		{FPAfterMessage, "create", "redo"},
		{FPAfterSetTxn, "create", "roll forward"},
		{FPBeforeMessage, "delete", "redo"},
		{FPAfterMessage, "delete", "redo"},
		{FPAfterSetTxn, "delete", "roll forward"},
		{FPSnapOriginSuspended, "snapshot", "redo"},
		{FPSnapBeforeResume, "snapshot", "redo"},
		{FPAfterSetTxn, "snapshot", "roll forward"},
	}
	for i, tc := range cases {
		t.Run(tc.op+"/"+string(tc.fp), func(t *testing.T) {
			f := newReconcileFixture(t, fmt.Sprintf("rr%d", i))
			fp := &Failpoints{}
			f.pool.fp = fp
			var origin dm.BlockDevice
			if tc.op == "snapshot" {
				// An active, open origin: the snapshot suspends it.
				var err error
				if origin, err = f.pool.OpenThin(f.ctx, 1); err != nil {
					t.Fatal(err)
				}
				defer origin.Close()
			}
			fp.ArmError(tc.fp)
			var err error
			switch tc.op {
			case "create":
				err = f.pool.CreateThin(f.ctx, 3, crashVolSects)
			case "delete":
				err = f.pool.Delete(f.ctx, 2)
			case "snapshot":
				err = f.pool.Snapshot(f.ctx, 3, 1)
			}
			if err == nil || !strings.Contains(err.Error(), string(tc.fp)) {
				t.Fatalf("%s with %s armed: %v, want the failpoint's error", tc.op, tc.fp, err)
			}
			fp.Disarm(tc.fp)
			if origin != nil {
				// Resumed on every path, errors included.
				info, err := f.env.Control().Info(f.ctx, f.pool.ThinDMName(1))
				if err != nil || info.Suspended {
					t.Fatalf("origin after a failed snapshot: %+v, %v; want resumed", info, err)
				}
				if _, err := origin.ReadAt(make([]byte, 4096), 0); err != nil {
					t.Fatalf("origin IO after a failed snapshot: %v", err)
				}
			}
			if st := f.record(); st.Pending == nil {
				t.Fatal("no pending intent after a failed step")
			}
			// Another change is refused while the intent is pending.
			if err := f.pool.CreateThin(f.ctx, 40, crashVolSects); !errors.Is(err, ErrIntentConflict) {
				t.Errorf("create with an intent pending: %v, want ErrIntentConflict", err)
			}
			rep, err := f.pool.Reconcile(f.ctx)
			if err != nil || len(rep.Findings) != 0 {
				t.Fatalf("reconcile: %+v, %v", rep, err)
			}
			if len(rep.Actions) != 1 || !strings.HasPrefix(rep.Actions[0], tc.action) {
				t.Errorf("actions %v, want one %q", rep.Actions, tc.action)
			}
			st := f.record()
			ps := f.status()
			if st.Pending != nil || st.TxnID != 3 || ps.TransactionID != 3 {
				t.Errorf("after reconcile: record txn %d pending %v, kernel txn %d; want 3, none, 3", st.TxnID, st.Pending, ps.TransactionID)
			}
			ids, err := kernelThinIDs(f.ctx, f.pool)
			if err != nil {
				t.Fatal(err)
			}
			want := map[uint32]bool{1: true, 2: true, 3: true}
			if tc.op == "delete" {
				delete(want, 3)
				delete(want, 2)
			}
			if idList(ids) != idList(want) {
				t.Errorf("kernel thin ids %s, want %s", idList(ids), idList(want))
			}
			if tc.op == "snapshot" {
				if err := checkVolume(f.ctx, f.pool, 3, f.img1); err != nil {
					t.Errorf("snapshot content: %v", err)
				}
			}
			if origin != nil {
				origin.Close()
			}
			if err := f.rig.teardown(f.ctx, f.env, f.pool); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestReconcileRollBack: a pending delete whose volume is now in use cannot
// be redone; reconcile abandons the intent (nothing was deleted) instead of
// forcing it or quarantining the pool.
func TestReconcileRollBack(t *testing.T) {
	f := newReconcileFixture(t, "rb0")
	fp := &Failpoints{}
	f.pool.fp = fp
	fp.ArmError(FPBeforeMessage)
	if err := f.pool.Delete(f.ctx, 2); err == nil {
		t.Fatal("failpoint did not fail the delete")
	}
	fp.Disarm(FPBeforeMessage)
	dev, err := f.pool.OpenThin(f.ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.pool.Reconcile(f.ctx)
	if err != nil || len(rep.Findings) != 0 {
		t.Fatalf("reconcile: %+v, %v", rep, err)
	}
	if len(rep.Actions) != 2 || !strings.HasPrefix(rep.Actions[1], "rolled back") {
		t.Errorf("actions %v, want a redo then a roll back", rep.Actions)
	}
	st := f.record()
	if st.Pending != nil || st.TxnID != 2 || f.status().TransactionID != 2 {
		t.Errorf("after roll back: record %+v, kernel txn %d", st, f.status().TransactionID)
	}
	if _, ok := st.Thins[2]; !ok {
		t.Error("thin 2 left the record")
	}
	if ids, _ := kernelThinIDs(f.ctx, f.pool); !ids[2] {
		t.Error("thin 2 was deleted from the kernel")
	}
	dev.Close()
	if err := f.pool.Delete(f.ctx, 2); err != nil {
		t.Errorf("delete once the volume is closed: %v", err)
	}
	if err := f.rig.teardown(f.ctx, f.env, f.pool); err != nil {
		t.Error(err)
	}
}

// heldReadGate is a dm.Control whose reads of the held metadata root wait,
// once armed, until the test lets them go.
type heldReadGate struct {
	dm.Control
	armed   atomic.Bool
	reading chan struct{}
	release chan struct{}
}

func (g *heldReadGate) PoolMetadata(ctx context.Context, pool string, snap bool) (*dm.MetadataDump, error) {
	if snap && g.armed.CompareAndSwap(true, false) {
		close(g.reading)
		<-g.release
	}
	return g.Control.(dm.MetadataReader).PoolMetadata(ctx, pool, snap)
}

// TestReconcileReadDoesNotBlockBatches: while a reconcile reads the held
// metadata root (thin_dump of every device: long on a large pool), the
// pool's batches run; the reconcile still compares one instant (the root
// it reserved with the record it read under the lock) and finds nothing.
func TestReconcileReadDoesNotBlockBatches(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := dmtest.ForTest(t, testEngine())
	rig := newPoolRig(t, env, Config{Name: "rcb"}, 4<<20, 64<<20)
	rec, err := rig.record()
	if err != nil {
		t.Fatal(err)
	}
	gate := &heldReadGate{Control: env.Control(), reading: make(chan struct{}), release: make(chan struct{})}
	p, err := Open(ctx, rig.Cfg, Options{Control: gate, Record: rec, Grower: rig.grower(env)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CreateThin(ctx, 1, crashVolSects); err != nil {
		t.Fatal(err)
	}
	gate.armed.Store(true)
	type result struct {
		rep ReconcileReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := p.Reconcile(ctx)
		done <- result{rep, err}
	}()
	<-gate.reading
	// The reconcile holds a metadata root and waits in its read: a thin
	// create (a whole transaction) must still go through.
	created := make(chan error, 1)
	go func() { created <- p.CreateThin(ctx, 2, crashVolSects) }()
	select {
	case err := <-created:
		if err != nil {
			t.Fatalf("create while a reconcile reads: %v", err)
		}
	case <-time.After(20 * time.Second):
		// Not a speed check: the create cannot finish until the read
		// does, which waits for this test.
		close(gate.release)
		t.Fatal("a create waited for the reconcile's metadata read")
	}
	close(gate.release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.rep.Findings) != 0 {
		t.Fatalf("findings %+v: the reconcile compared a root and a record of different instants", r.rep.Findings)
	}
	if rep, err := p.Reconcile(ctx); err != nil || len(rep.Findings) != 0 {
		t.Fatalf("second reconcile: %+v %v", rep, err)
	}
	if err := rig.teardown(ctx, env, p); err != nil {
		t.Fatal(err)
	}
}
