package metadata

import (
	"fmt"
	"strings"
	"testing"
)

func queueIDs(h *harness, pool string) []string {
	var ids []string
	for _, in := range h.f.PendingIntents(pool) {
		ids = append(ids, in.ID)
	}
	return ids
}

func fromTxns(h *harness, pool string) []uint64 {
	var out []uint64
	for _, in := range h.f.PendingIntents(pool) {
		out = append(out, in.FromTxn)
	}
	return out
}

func TestTxnSequence(t *testing.T) {
	h := newHarness(t)
	h.checkRefused = true
	pool := h.basic()
	h.ok(CmdPoolAdd, PoolAdd{UUID: h.uuid(), VG: "vg0", Name: "other", Node: "n1", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 4 << 20, TxnID: 40})
	var ids []string
	for i := range 5 {
		r := h.ok(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: fmt.Sprintf("v%d", i), Pool: "pool0", SizeBytes: 1 << 20})
		ids = append(ids, r.Intents[0])
	}
	// A create in another pool does not disturb this pool's numbering.
	r := h.ok(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: "w", Pool: "other", SizeBytes: 1 << 20})
	if in, _ := h.f.Intent(r.Intents[0]); in.FromTxn != 40 {
		t.Fatalf("other pool's intent from %d", in.FromTxn)
	}
	if got := fmt.Sprint(fromTxns(h, pool)); got != "[0 1 2 3 4]" {
		t.Fatalf("from txns %s", got)
	}

	// Completions must be the queue head, in order, from the pool's txn.
	h.fail(CodeConflict, CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 0, Intents: []string{ids[1]}})
	h.fail(CodeConflict, CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 1, Intents: []string{ids[0]}})
	h.fail(CodeConflict, CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 0, Intents: []string{ids[1], ids[0]}})
	h.fail(CodeInvalid, CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 0})
	h.fail(CodeNotFound, CmdIntentComplete, IntentComplete{Pool: "nopool", FromTxn: 0, Intents: ids[:1]})
	h.fail(CodeConflict, CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 0, Intents: append(append([]string{}, ids...), "99-0")})

	// A batch of two: one completion, one batch number, txn moves by two.
	r = h.ok(CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 0, Intents: ids[:2]})
	if r.Batch != 1 || r.Already {
		t.Fatalf("completion %v", r)
	}
	if p := h.pool(pool); p.TxnID != 2 || p.LastBatch != 1 {
		t.Fatalf("pool txn %d batch %d", p.TxnID, p.LastBatch)
	}
	for _, id := range ids[:2] {
		in, _ := h.f.Intent(id)
		v := h.volume(VolumeRef{UUID: in.Volume})
		if in.State != IntentDone || in.Batch != 1 || !in.FinishedAt.Equal(h.now) || v.State != VolumeActive {
			t.Fatalf("intent %+v volume %+v", in, v)
		}
	}
	// The agent's retry of the same completion changes nothing.
	r = h.ok(CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 0, Intents: ids[:2]})
	if !r.Already || r.Batch != 1 || h.pool(pool).TxnID != 2 {
		t.Fatalf("repeat %v", r)
	}
	// A retry that overlaps done and pending intents is a conflict.
	h.fail(CodeConflict, CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 0, Intents: ids[:3]})

	// Abandon the middle of the remaining queue: what follows is renumbered.
	r = h.ok(CmdIntentAbandon, IntentAbandon{Pool: pool, Intents: []string{ids[3]}, Reason: "no space under the reserve"})
	if fmt.Sprint(r.Intents) != fmt.Sprint([]string{ids[3]}) {
		t.Fatalf("abandoned %v", r.Intents)
	}
	if got := fmt.Sprint(queueIDs(h, pool)); got != fmt.Sprint([]string{ids[2], ids[4]}) {
		t.Fatalf("queue %s", got)
	}
	if got := fmt.Sprint(fromTxns(h, pool)); got != "[2 3]" {
		t.Fatalf("renumbered from txns %s", got)
	}
	in, _ := h.f.Intent(ids[3])
	v := h.volume(VolumeRef{UUID: in.Volume})
	if in.State != IntentAbandoned || in.Reason != "no space under the reserve" || v.State != VolumeFailed || v.ThinID != 0 ||
		!strings.Contains(v.Reason, "reserve") {
		t.Fatalf("abandoned intent %+v volume %+v", in, v)
	}
	h.fail(CodeInvalid, CmdIntentAbandon, IntentAbandon{Pool: pool, Intents: []string{ids[2]}})
	h.fail(CodeConflict, CmdIntentAbandon, IntentAbandon{Pool: pool, Intents: []string{ids[0]}, Reason: "x"})
	h.fail(CodeNotFound, CmdIntentAbandon, IntentAbandon{Pool: pool, Intents: []string{"1-7"}, Reason: "x"})
	if r := h.ok(CmdIntentAbandon, IntentAbandon{Pool: pool, Intents: []string{ids[3]}, Reason: "again"}); !r.Already {
		t.Fatalf("repeated abandon %v", r)
	}
	// The rest completes from the renumbered transaction.
	h.fail(CodeConflict, CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 3, Intents: []string{ids[2], ids[4]}})
	r = h.ok(CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 2, Intents: []string{ids[2], ids[4]}})
	if p := h.pool(pool); p.TxnID != 4 || r.Batch != 2 || len(h.f.PendingIntents(pool)) != 0 {
		t.Fatalf("pool %+v result %v", p, r)
	}
	// A new intent continues from the pool's transaction id.
	r = h.ok(CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{VG: "vg0", Name: "v0"}})
	if in, _ := h.f.Intent(r.Intents[0]); in.FromTxn != 4 || in.ToTxn() != 5 {
		t.Fatalf("delete intent %+v", in)
	}
	// The failed volume goes at once (nothing in the kernel), and the
	// answer names it.
	failed, _ := h.f.Intent(ids[3])
	r = h.ok(CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{UUID: failed.Volume}})
	if r.UUID != failed.Volume || len(r.Intents) != 0 {
		t.Fatalf("delete of a failed volume answered %+v, want uuid %s and no intent", r, failed.Volume)
	}
	if _, ok := h.f.Volume(failed.Volume); ok {
		t.Fatal("failed volume still there after its delete")
	}
	checkInvariants(t, h.f)
}

func TestAbandonCascade(t *testing.T) {
	h := newHarness(t)
	h.checkRefused = true
	pool := h.basic()
	keep := h.create(pool, "keep", 1<<20)
	// v (creating) <- s (snapshot of creating v) <- s2 (snapshot of s);
	// an unrelated create between them stays.
	v := h.uuid()
	rv := h.ok(CmdVolumeCreate, VolumeCreate{UUID: v, VG: "vg0", Name: "v", Pool: "pool0", SizeBytes: 1 << 20})
	s := h.uuid()
	h.ok(CmdSnapshotCreate, SnapshotCreate{UUID: s, Origin: VolumeRef{UUID: v}, Name: "s"})
	other := h.ok(CmdSnapshotCreate, SnapshotCreate{UUID: h.uuid(), Origin: VolumeRef{UUID: keep}, Name: "k1"})
	s2 := h.uuid()
	h.ok(CmdSnapshotCreate, SnapshotCreate{UUID: s2, Origin: VolumeRef{UUID: s}, Name: "s2"})
	if len(h.f.PendingIntents(pool)) != 4 {
		t.Fatal("want 4 pending")
	}
	r := h.ok(CmdIntentAbandon, IntentAbandon{Pool: pool, Intents: rv.Intents, Reason: "out of metadata space"})
	if len(r.Intents) != 3 {
		t.Fatalf("cascade abandoned %v", r.Intents)
	}
	for _, id := range []string{v, s, s2} {
		vol := h.volume(VolumeRef{UUID: id})
		if vol.State != VolumeFailed || vol.ThinID != 0 || !strings.Contains(vol.Reason, "out of metadata space") {
			t.Fatalf("volume %+v", vol)
		}
	}
	q := h.f.PendingIntents(pool)
	if len(q) != 1 || q[0].ID != other.Intents[0] || q[0].FromTxn != h.pool(pool).TxnID {
		t.Fatalf("queue %+v", q)
	}
	checkInvariants(t, h.f)
	// The freed ids (2, 3, 5) are free again, but the search goes on from
	// NextThinID and reuses them only after it wraps.
	r = h.ok(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: "n", Pool: "pool0", SizeBytes: 1 << 20})
	if in, _ := h.f.Intent(r.Intents[0]); in.ThinID != 6 {
		t.Fatalf("next thin id %d (ids advance before they wrap)", in.ThinID)
	}
}

func TestRevert(t *testing.T) {
	setup := func(t *testing.T) (*harness, fixture, Volume) {
		h := newHarness(t)
		h.checkRefused = true
		fx := newFixture(h)
		return h, fx, h.volume(v1Ref)
	}
	s1 := VolumeRef{VG: "vg0", Name: "s1"}

	t.Run("completes", func(t *testing.T) {
		h, fx, old := setup(t)
		h.ok(CmdVolumeExtend, VolumeExtend{Volume: v1Ref, SizeBytes: 2 << 30})
		r := h.ok(CmdVolumeRevert, VolumeRevert{Volume: v1Ref, Snapshot: s1})
		del, _ := h.f.Intent(r.Intents[0])
		snap, _ := h.f.Intent(r.Intents[1])
		if del.Op != OpDelete || del.ThinID != old.ThinID || snap.Op != OpCreateSnap || snap.Origin != h.volume(s1).ThinID ||
			snap.ThinID == old.ThinID || snap.FromTxn != del.FromTxn+1 {
			t.Fatalf("intents %+v %+v", del, snap)
		}
		h.fail(CodeConflict, CmdVolumeDelete, VolumeDelete{Volume: v1Ref})
		h.fail(CodeConflict, CmdSnapshotCreate, SnapshotCreate{UUID: h.uuid(), Origin: v1Ref, Name: "x"})
		// The agent may run them in separate transactions.
		h.ok(CmdIntentComplete, IntentComplete{Pool: fx.pool, FromTxn: del.FromTxn, Intents: []string{del.ID}})
		if v := h.volume(v1Ref); v.ThinID != 0 || v.State != VolumeReverting {
			t.Fatalf("between the halves: %+v", v)
		}
		checkInvariants(t, h.f)
		h.ok(CmdIntentComplete, IntentComplete{Pool: fx.pool, FromTxn: snap.FromTxn, Intents: []string{snap.ID}})
		v := h.volume(v1Ref)
		if v.UUID != fx.v1 || v.ThinID != snap.ThinID || v.State != VolumeActive || v.SizeBytes != 1<<30 {
			t.Fatalf("reverted %+v", v)
		}
		if h.volume(s1).State != VolumeActive {
			t.Fatal("the snapshot must stay")
		}
		checkInvariants(t, h.f)
	})
	t.Run("delete refused", func(t *testing.T) {
		h, fx, old := setup(t)
		r := h.ok(CmdVolumeRevert, VolumeRevert{Volume: v1Ref, Snapshot: s1})
		a := h.ok(CmdIntentAbandon, IntentAbandon{Pool: fx.pool, Intents: r.Intents[:1], Reason: "volume in use"})
		if len(a.Intents) != 2 {
			t.Fatalf("abandoned %v", a.Intents)
		}
		if v := h.volume(v1Ref); v.State != VolumeActive || v.ThinID != old.ThinID {
			t.Fatalf("volume %+v", v)
		}
		checkInvariants(t, h.f)
	})
	t.Run("snapshot refused before the delete ran", func(t *testing.T) {
		h, fx, old := setup(t)
		r := h.ok(CmdVolumeRevert, VolumeRevert{Volume: v1Ref, Snapshot: s1})
		a := h.ok(CmdIntentAbandon, IntentAbandon{Pool: fx.pool, Intents: r.Intents[1:], Reason: "no space"})
		if len(a.Intents) != 2 || a.Intents[0] != r.Intents[0] {
			t.Fatalf("abandoned %v (want both, in queue order)", a.Intents)
		}
		if v := h.volume(v1Ref); v.State != VolumeActive || v.ThinID != old.ThinID {
			t.Fatalf("volume %+v", v)
		}
		checkInvariants(t, h.f)
	})
	t.Run("snapshot refused after the delete", func(t *testing.T) {
		h, fx, _ := setup(t)
		r := h.ok(CmdVolumeRevert, VolumeRevert{Volume: v1Ref, Snapshot: s1})
		del, _ := h.f.Intent(r.Intents[0])
		h.ok(CmdIntentComplete, IntentComplete{Pool: fx.pool, FromTxn: del.FromTxn, Intents: r.Intents[:1]})
		h.ok(CmdIntentAbandon, IntentAbandon{Pool: fx.pool, Intents: r.Intents[1:], Reason: "no space"})
		v := h.volume(v1Ref)
		if v.State != VolumeFailed || v.ThinID != 0 {
			t.Fatalf("volume %+v", v)
		}
		checkInvariants(t, h.f)
		// A failed volume can be reverted again: only the snapshot intent.
		r = h.ok(CmdVolumeRevert, VolumeRevert{Volume: v1Ref, Snapshot: s1})
		if len(r.Intents) != 1 {
			t.Fatalf("revert of a failed volume: %v", r.Intents)
		}
		h.completeAll(fx.pool)
		if v := h.volume(v1Ref); v.State != VolumeActive || v.ThinID == 0 {
			t.Fatalf("volume %+v", v)
		}
		checkInvariants(t, h.f)
	})
	t.Run("snapshot still creating", func(t *testing.T) {
		h, fx, old := setup(t)
		s2 := h.ok(CmdSnapshotCreate, SnapshotCreate{UUID: h.uuid(), Origin: v1Ref, Name: "s2"})
		r := h.ok(CmdVolumeRevert, VolumeRevert{Volume: v1Ref, Snapshot: VolumeRef{VG: "vg0", Name: "s2"}})
		// The snapshot's creation is refused: the revert goes with it.
		a := h.ok(CmdIntentAbandon, IntentAbandon{Pool: fx.pool, Intents: s2.Intents, Reason: "no space"})
		if len(a.Intents) != 3 || a.Intents[1] != r.Intents[0] {
			t.Fatalf("abandoned %v", a.Intents)
		}
		if v := h.volume(v1Ref); v.State != VolumeActive || v.ThinID != old.ThinID {
			t.Fatalf("volume %+v", v)
		}
		checkInvariants(t, h.f)
	})
}

func TestThinIDAllocation(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	a := h.create(pool, "a", 1<<20)
	b := h.create(pool, "b", 1<<20)
	if h.volume(VolumeRef{UUID: a}).ThinID != 1 || h.volume(VolumeRef{UUID: b}).ThinID != 2 {
		t.Fatal("ids start at 1")
	}
	// Near the top of the 24-bit space the search wraps to 1 and skips ids
	// in use.
	h.f.mu.Lock()
	h.f.st.pools[pool].pool.NextThinID = MaxThinID
	h.f.mu.Unlock()
	c := h.create(pool, "c", 1<<20)
	d := h.create(pool, "d", 1<<20)
	if got := h.volume(VolumeRef{UUID: c}).ThinID; got != MaxThinID {
		t.Fatalf("c thin %d", got)
	}
	if got := h.volume(VolumeRef{UUID: d}).ThinID; got != 3 {
		t.Fatalf("d thin %d, want 3 (1 and 2 in use)", got)
	}
	// A thin id is reused only once its delete completed.
	h.ok(CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{UUID: a}})
	h.f.mu.Lock()
	h.f.st.pools[pool].pool.NextThinID = 1
	h.f.mu.Unlock()
	e := h.create(pool, "e", 1<<20)
	if got := h.volume(VolumeRef{UUID: e}).ThinID; got != 4 {
		t.Fatalf("e thin %d, want 4 (1 is still being deleted)", got)
	}
	checkInvariants(t, h.f)
}

func TestIntentHistoryBounded(t *testing.T) {
	h := newHarness(t)
	h.f = New(Options{IntentHistory: 10})
	pool := h.basic()
	var first string
	for i := range 30 {
		r := h.ok(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: fmt.Sprintf("v%d", i), Pool: pool, SizeBytes: 1 << 20})
		if i == 0 {
			first = r.Intents[0]
		}
		if i%3 == 2 {
			h.completeAll(pool)
		}
	}
	if _, ok := h.f.Intent(first); ok {
		t.Fatal("oldest finished intent kept beyond the history")
	}
	// Pending intents are never dropped, whatever the history size.
	if n := len(h.f.PendingIntents(pool)); n != 0 {
		t.Fatalf("%d pending", n)
	}
	h.ok(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: "late", Pool: pool, SizeBytes: 1 << 20})
	for i := range 20 {
		h.ok(CmdVolumeExtend, VolumeExtend{Volume: VolumeRef{VG: "vg0", Name: "late"}, SizeBytes: uint64(2+i) << 20})
	}
	if n := len(h.f.PendingIntents(pool)); n != 1 {
		t.Fatalf("%d pending", n)
	}
	checkInvariants(t, h.f)
}
