package metadata

import (
	"bytes"
	"io"
	"testing"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestWaitIntent: a waiter's channel closes when its intent is completed,
// abandoned or restored away, not on unrelated applies; a cancelled waiter
// leaves nothing registered.
func TestWaitIntent(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	intent := func(name string) string {
		return h.ok(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: name, Pool: pool, SizeBytes: 1 << 20}).Intents[0]
	}
	a, b, c := intent("a"), intent("b"), intent("c")

	if ch, _ := h.f.WaitIntent("99-0"); !isClosed(ch) {
		t.Fatal("unknown intent: channel open")
	}
	chA, cancelA := h.f.WaitIntent(a)
	chA2, cancelA2 := h.f.WaitIntent(a)
	chB, cancelB := h.f.WaitIntent(b)
	chC, cancelC := h.f.WaitIntent(c)
	defer cancelC()
	if n := h.f.waiters.count(); n != 4 {
		t.Fatalf("%d waiters registered, want 4", n)
	}

	// An unrelated apply wakes nobody.
	intent("d")
	if isClosed(chA) || isClosed(chB) || isClosed(chC) {
		t.Fatal("a waiter woke on an unrelated apply")
	}

	// Completing a alone wakes a's two waiters only.
	in, _ := h.f.Intent(a)
	h.ok(CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: in.FromTxn, Intents: []string{a}})
	if !isClosed(chA) || !isClosed(chA2) || isClosed(chB) {
		t.Fatalf("after completing a: a %v a2 %v b %v", isClosed(chA), isClosed(chA2), isClosed(chB))
	}
	cancelA()
	cancelA2() // after the close: harmless
	if ch, _ := h.f.WaitIntent(a); !isClosed(ch) {
		t.Fatal("done intent: channel open")
	}

	// Abandoning b wakes its waiter.
	h.ok(CmdIntentAbandon, IntentAbandon{Pool: pool, Intents: []string{b}, Reason: "test"})
	if !isClosed(chB) {
		t.Fatal("abandoned intent: channel open")
	}
	cancelB()

	// A waiter that gives up is removed at once.
	_, cancelD := h.f.WaitIntent(queueIDs(h, pool)[1])
	if n := h.f.waiters.count(); n != 2 {
		t.Fatalf("%d waiters, want 2 (c and d)", n)
	}
	cancelD()
	cancelD()
	if n := h.f.waiters.count(); n != 1 {
		t.Fatalf("%d waiters after cancel, want 1 (c)", n)
	}

	// A restore of a state where c is gone wakes c's waiter.
	empty := newHarness(t)
	empty.basic()
	if err := h.f.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, empty.f)))); err != nil {
		t.Fatal(err)
	}
	if !isClosed(chC) || h.f.waiters.count() != 0 {
		t.Fatalf("after restore: c closed %v, %d waiters", isClosed(chC), h.f.waiters.count())
	}
}
