package metadata

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRequestReplayAfterDelete is the bug TestLinearizable found: a create
// whose answer was lost, repeated after the volume it made had been
// deleted, must not create the volume again.
func TestRequestReplayAfterDelete(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	id := h.uuid()
	create := VolumeCreate{UUID: id, VG: "vg0", Name: "v", Pool: pool, SizeBytes: 1 << 20}
	first := h.doRequest("k1", CmdVolumeCreate, create)
	if first.Err != nil || first.Replayed {
		t.Fatalf("first create: %v", first)
	}
	h.completeAll(pool)
	h.ok(CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{UUID: id}})
	h.completeAll(pool)
	if _, ok := h.f.Volume(id); ok {
		t.Fatal("volume still there after its delete completed")
	}
	again := h.doRequest("k1", CmdVolumeCreate, create)
	if again.Err != nil || !again.Replayed || again.UUID != id || !slicesEqual(again.Intents, first.Intents) {
		t.Fatalf("repeat: %v, want the first result replayed (%v)", again, first)
	}
	if _, ok := h.f.Volume(id); ok {
		t.Fatal("the repeat created the deleted volume again")
	}
	if q := h.f.PendingIntents(pool); len(q) != 0 {
		t.Fatalf("the repeat queued %d intents", len(q))
	}
}

// TestRequestReplaySnapshot: a repeated snapshot create is answered with
// its first result even when its origin is being deleted meanwhile.
func TestRequestReplaySnapshot(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	origin := h.create(pool, "o", 1<<20)
	snap := SnapshotCreate{UUID: h.uuid(), Origin: VolumeRef{UUID: origin}, Name: "s"}
	first := h.doRequest("snap-1", CmdSnapshotCreate, snap)
	if first.Err != nil {
		t.Fatal(first)
	}
	h.completeAll(pool)
	h.ok(CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{UUID: origin}})
	again := h.doRequest("snap-1", CmdSnapshotCreate, snap)
	if again.Err != nil || !again.Replayed || again.UUID != snap.UUID {
		t.Fatalf("repeat: %v", again)
	}
	// Without the key the same command is a fresh one and refused.
	h.fail(CodeConflict, CmdSnapshotCreate, snap)
}

// TestRequestRefusalNotKept: a refused command changed nothing, so its
// repeat runs afresh and may succeed.
func TestRequestRefusalNotKept(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	h.ok(CmdNodeSetState, NodeSetState{ID: "n1", State: NodeDown})
	create := VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: "v", Pool: pool, SizeBytes: 1 << 20}
	if r := h.doRequest("k", CmdVolumeCreate, create); CodeOf(r.AsError()) != CodeUnavailable {
		t.Fatalf("create on a down node: %v", r)
	}
	h.ok(CmdNodeSetState, NodeSetState{ID: "n1", State: NodeUp})
	if r := h.doRequest("k", CmdVolumeCreate, create); r.Err != nil || r.Replayed {
		t.Fatalf("repeat after the node came back: %v", r)
	}
}

func TestRequestKeyChecks(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	id := h.create(pool, "v", 1<<20)
	if r := h.doRequest("k", CmdVolumeExtend, VolumeExtend{Volume: VolumeRef{UUID: id}, SizeBytes: 2 << 20}); r.Err != nil {
		t.Fatal(r)
	}
	r := h.doRequest("k", CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{UUID: id}})
	if CodeOf(r.AsError()) != CodeInvalid || !strings.Contains(r.Err.Message, "new key") {
		t.Fatalf("key reused for another command: %v", r)
	}
	for _, k := range []string{strings.Repeat("x", MaxRequestKey+1), "with space", "tab\t", "é"} {
		if r := h.doRequest(k, CmdVolumeSetTags, VolumeSetTags{Volume: VolumeRef{UUID: id}}); CodeOf(r.AsError()) != CodeInvalid {
			t.Errorf("key %q: %v", k, r)
		}
	}
}

// TestRequestExpiry: keys are forgotten after the window (in command
// time) and beyond the cap, oldest first.
func TestRequestExpiry(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	id := h.create(pool, "v", 1<<20)
	tags := func(key string) *Result {
		return h.doRequest(key, CmdVolumeSetTags, VolumeSetTags{Volume: VolumeRef{UUID: id}, Tags: []string{key}})
	}
	tags("old")
	if r := tags("old"); !r.Replayed {
		t.Fatal("not replayed inside the window")
	}
	h.now = h.now.Add(DefaultRequestWindow)
	if r := tags("old"); r.Replayed {
		t.Fatal("replayed after the window")
	}

	f := h.f
	f.mu.Lock()
	f.st.requestCap = 3
	f.mu.Unlock()
	for _, k := range []string{"a", "b", "c", "d"} {
		tags(k)
	}
	// The cap is enforced before each keyed command: "a" is the oldest.
	if r := tags("e"); r.Replayed {
		t.Fatal(r)
	}
	if r := tags("a"); r.Replayed {
		t.Fatal("the oldest key survived the cap")
	}
	if r := tags("e"); !r.Replayed {
		t.Fatal("the newest key was dropped")
	}
}

// TestRequestsInSnapshot: a replica restored from a snapshot replays the
// same keys, and snapshots of equal states are equal bytes.
func TestRequestsInSnapshot(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	create := VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: "v", Pool: pool, SizeBytes: 1 << 20}
	first := h.doRequest("k1", CmdVolumeCreate, create)
	b := snapshotBytes(t, h.f)
	if !bytes.Contains(gunzip(t, b), []byte(`{"request":{"key":"k1","type":"volume_create"`)) {
		t.Fatalf("no request record:\n%s", gunzip(t, b))
	}
	g := New(Options{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, snapshotBytes(t, g)) {
		t.Fatal("restored snapshot differs")
	}
	data, _ := EncodeRequest(CmdVolumeCreate, h.now.Add(time.Second), "k1", create)
	r := g.ApplyCommand(h.index+1, data)
	if r.Err != nil || !r.Replayed || r.UUID != first.UUID {
		t.Fatalf("restored replica: %v", r)
	}

	lines := gunzipLines(t, b)
	for i, l := range lines {
		if strings.HasPrefix(l, `{"request"`) {
			dup := append(append(append([]string{}, lines[:i+1]...), lines[i]), lines[i+1:]...)
			dup[0] = strings.Replace(dup[0], `"requests":1`, `"requests":2`, 1)
			if err := New(Options{}).Restore(io.NopCloser(bytes.NewReader(gzipLines(dup)))); err == nil {
				t.Fatal("a duplicated request key restored")
			}
		}
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	return []byte(strings.Join(gunzipLines(t, b), "\n"))
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestPackedResult: a remembered result comes back as it went in, every
// field that appendResult keeps. A field added to Result must be added to
// appendResult too (or be one that is never remembered): the count below
// fails until it is looked at.
func TestPackedResult(t *testing.T) {
	if n := reflect.TypeFor[Result]().NumField(); n != 7 {
		t.Fatalf("Result has %d fields; check appendResult keeps the new ones, then update this count", n)
	}
	for _, r := range []Result{
		{},
		{Index: 1<<63 + 5, UUID: "3f1c0e9a-0000-4000-8000-000000000001", Intents: []string{"17-0", "17.3-1", ""}, Batch: 9, Already: true},
		{Index: 7, Intents: []string{strings.Repeat("x", 300)}},
	} {
		got := unpackResult(appendResult(nil, &r))
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("packed %+v, unpacked %+v", r, got)
		}
	}
}

// TestRequestTableChunks: the table's FIFO across its chunk boundaries,
// as a long run of keyed commands fills and expires it. Every live key
// finds its own result, every expired one none, and the snapshot form
// lists the live ones oldest first.
func TestRequestTableChunks(t *testing.T) {
	tb := newRequestTable()
	t0 := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	const n, limit = 5*reqChunkLen + 17, 2*reqChunkLen + 3
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		tb.expire(at, time.Hour, limit)
		tb.add(fmt.Sprintf("k%d", i), CmdVolumeCreate, at, &Result{Index: uint64(i)})
	}
	// The cap applies before each add, so limit+1 stay after the last.
	if tb.len() != limit+1 || tb.indexed() != limit+1 {
		t.Fatalf("%d live, %d indexed; want %d", tb.len(), tb.indexed(), limit+1)
	}
	if got := len(tb.chunks); got > (limit+1)/reqChunkLen+2 {
		t.Fatalf("%d chunks held for %d live entries", got, limit+1)
	}
	for i := range n {
		seq, found := tb.lookup(fmt.Sprintf("k%d", i))
		live := i >= n-(limit+1)
		if found != live {
			t.Fatalf("key %d: found %v, live %v", i, found, live)
		}
		if found && tb.result(seq).Index != uint64(i) {
			t.Fatalf("key %d answers with index %d", i, tb.result(seq).Index)
		}
	}
	var all []requestEntry
	for _, span := range tb.live() {
		for i := range span.ents {
			all = append(all, span.entry(i))
		}
	}
	if len(all) != limit+1 || all[0].Key != fmt.Sprintf("k%d", n-limit-1) || all[len(all)-1].Key != fmt.Sprintf("k%d", n-1) {
		t.Fatalf("live: %d entries, %s .. %s", len(all), all[0].Key, all[len(all)-1].Key)
	}
	for i, e := range all {
		if want := n - limit - 1 + i; e.Result.Index != uint64(want) || e.Type != CmdVolumeCreate || !e.At.Equal(t0.Add(time.Duration(want)*time.Millisecond)) {
			t.Fatalf("live entry %d: %+v", i, e)
		}
	}
	// The window empties it, chunk by chunk.
	tb.expire(t0.Add(2*time.Hour), time.Hour, limit)
	if tb.len() != 0 || tb.indexed() != 0 || len(tb.chunks) > 1 {
		t.Fatalf("after the window: %d live, %d indexed, %d chunks", tb.len(), tb.indexed(), len(tb.chunks))
	}
	tb.add("again", CmdVolumeCreate, t0.Add(2*time.Hour), &Result{Index: 1})
	if _, found := tb.lookup("again"); !found || tb.len() != 1 {
		t.Fatal("an add after emptying is lost")
	}
}

// TestRequestTableCollisions: keys whose hashes collide (here all of
// them) still each find their own result, expire in order and list in
// the snapshot form, through the table's second map.
func TestRequestTableCollisions(t *testing.T) {
	tb := newRequestTable()
	tb.index.hash = func(string) uint64 { return 7 }
	t0 := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	const n, limit = 3*reqChunkLen + 5, reqChunkLen
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		tb.expire(at, time.Hour, limit)
		key := fmt.Sprintf("k%d", i)
		if _, found := tb.lookup(key); found {
			t.Fatalf("key %d found before it was added", i)
		}
		tb.add(key, CmdSnapshotCreate, at, &Result{Index: uint64(i), UUID: key})
	}
	if tb.len() != limit+1 || tb.indexed() != limit+1 || len(tb.index.byHash) != 1 {
		t.Fatalf("%d live, %d indexed (%d by hash); want %d, one by hash", tb.len(), tb.indexed(), len(tb.index.byHash), limit+1)
	}
	for i := range n {
		seq, found := tb.lookup(fmt.Sprintf("k%d", i))
		if live := i >= n-(limit+1); found != live {
			t.Fatalf("key %d: found %v, live %v", i, found, live)
		}
		if !found {
			continue
		}
		if r := tb.result(seq); r.Index != uint64(i) || r.UUID != fmt.Sprintf("k%d", i) || tb.typeOf(seq) != CmdSnapshotCreate {
			t.Fatalf("key %d answers %+v", i, r)
		}
	}
	tb.expire(t0.Add(2*time.Hour), time.Hour, limit)
	if tb.len() != 0 || tb.indexed() != 0 {
		t.Fatalf("after the window: %d live, %d indexed", tb.len(), tb.indexed())
	}
}
