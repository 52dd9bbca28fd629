package metadata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestPackRoundTrip(t *testing.T) {
	cases := [][][]byte{
		{[]byte(`{"a":1}`)},
		{[]byte(`{"a":1}`), []byte(`{}`), []byte(`{"b":"x"}`)},
		{[]byte{}, []byte(`{"a":1}`)},
	}
	for _, cmds := range cases {
		p := PackCommands(cmds)
		if !IsPacked(p) {
			t.Fatalf("%q: not marked packed", p)
		}
		got, err := UnpackCommands(p)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if !slices.EqualFunc(got, cmds, bytes.Equal) {
			t.Fatalf("round trip %q -> %q", cmds, got)
		}
	}
	for _, bad := range [][]byte{
		nil, []byte(`{"a":1}`), {packMagic}, {packMagic, 0}, {packMagic, 1}, {packMagic, 1, 5, 'a'},
		append(PackCommands([][]byte{[]byte("x")}), 'y'), {packMagic, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := UnpackCommands(bad); err == nil {
			t.Fatalf("%q unpacked without error", bad)
		}
	}
}

// FuzzUnpackCommands: any entry either unpacks into commands that pack
// back to the same bytes, or is refused; never a panic.
func FuzzUnpackCommands(f *testing.F) {
	f.Add(PackCommands([][]byte{[]byte(`{"type":"x"}`), []byte(`{}`)}))
	f.Add([]byte{packMagic, 2, 1, '{', 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds, err := UnpackCommands(data)
		if err != nil {
			return
		}
		if got := PackCommands(cmds); !bytes.Equal(got, data) {
			// Varints have one canonical form for what AppendUvarint
			// writes; a longer encoding of the same length is accepted
			// by Uvarint, so compare the commands instead.
			again, err := UnpackCommands(got)
			if err != nil || !slices.EqualFunc(again, cmds, bytes.Equal) {
				t.Fatalf("repack of %q differs: %q (%v)", data, got, err)
			}
		}
	})
}

// TestPackedEntry: a packed entry applies its commands in order, each with
// its own answer (a refusal or a malformed command touches only itself),
// the intents they create get distinct ids, and two replicas applying the
// entry end byte-identical. A malformed packed entry is refused whole.
func TestPackedEntry(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	at := h.now.Add(time.Second)
	enc := func(typ CommandType, p any) []byte {
		b, err := EncodeRequest(typ, at, "", p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cmds := [][]byte{
		enc(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: "a", Pool: pool, SizeBytes: 1 << 20}),
		enc(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: "b", Pool: pool, SizeBytes: 1 << 20}),
		[]byte(`{"type":`),
		enc(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: "a", Pool: pool, SizeBytes: 1 << 20}),
	}
	entry := PackCommands(cmds)
	twin := New(Options{})
	for i, data := range h.log {
		twin.ApplyCommand(uint64(i+1), data)
	}
	index := h.index + 1
	apply := func(f *FSM) Results {
		out := f.ApplyBatch([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: entry}})
		rs, ok := out[0].(Results)
		if !ok {
			t.Fatalf("packed entry answered %T, want Results", out[0])
		}
		return rs
	}
	rs := apply(h.f)
	if len(rs) != len(cmds) {
		t.Fatalf("%d results for %d commands", len(rs), len(cmds))
	}
	if rs[0].Err != nil || rs[1].Err != nil {
		t.Fatalf("creates refused: %v / %v", rs[0].Err, rs[1].Err)
	}
	if rs[2].Err == nil || rs[2].Err.Code != CodeInvalid {
		t.Fatalf("malformed command: %v, want invalid", rs[2].Err)
	}
	if rs[3].Err == nil || rs[3].Err.Code != CodeExists {
		t.Fatalf("second create of a: %v, want exists", rs[3].Err)
	}
	for _, r := range rs {
		if r.Index != index {
			t.Fatalf("result index %d, want the entry's %d", r.Index, index)
		}
	}
	ids := append(slices.Clone(rs[0].Intents), rs[1].Intents...)
	// Each command's intents carry its own operation id (before the dash).
	if want := []string{fmt.Sprintf("%d.0-0", index), fmt.Sprintf("%d.1-0", index)}; !slices.Equal(ids, want) {
		t.Fatalf("intent ids %v, want %v", ids, want)
	}
	if q := h.f.PendingIntents(pool); len(q) != 2 || q[0].ID != ids[0] || q[1].ID != ids[1] {
		t.Fatalf("queue %+v, want the two creates in order", q)
	}
	checkInvariants(t, h.f)
	if got := apply(twin); !bytes.Equal(resultsJSON(t, got), resultsJSON(t, rs)) {
		t.Fatal("replicas answered the packed entry differently")
	}
	if !bytes.Equal(snapshotBytes(t, h.f), snapshotBytes(t, twin)) {
		t.Fatal("replicas differ after the packed entry")
	}

	before := stateBytes(t, h.f)
	bad := h.f.ApplyBatch([]*raft.Log{{Index: index + 1, Type: raft.LogCommand, Data: entry[:len(entry)-3]}})
	if r, ok := bad[0].(*Result); !ok || r.Err == nil || r.Err.Code != CodeInvalid {
		t.Fatalf("truncated packed entry answered %v, want one invalid refusal", bad[0])
	}
	if !bytes.Equal(before, stateBytes(t, h.f)) {
		t.Fatal("a refused packed entry changed the state")
	}
}

// TestEncodeRequestBytes: the hand-built envelope is byte for byte what
// json.Marshal writes for the Command, so that a log written by either
// decodes the same, for keys and payloads that need escaping too.
func TestEncodeRequestBytes(t *testing.T) {
	at := time.Date(2026, 11, 23, 4, 5, 6, 789, time.FixedZone("x", 3600))
	for _, c := range []struct {
		typ     CommandType
		request string
		payload any
	}{
		{CmdVolumeCreate, "", VolumeCreate{UUID: "3f1c0e9a-0000-4000-8000-000000000001", VG: "vg0", Name: "v", Pool: "p", SizeBytes: 1 << 30}},
		{CmdSnapshotCreate, "key-1", SnapshotCreate{UUID: "u", Origin: VolumeRef{VG: "vg0", Name: "a<b>&c"}, Name: "s", Tags: []string{"x\"y", "\u2028"}}},
		{CmdVolumeSetTags, `odd"key\<&>`, VolumeSetTags{Volume: VolumeRef{UUID: "u"}, Tags: []string{"é", "\x01"}}},
		{CommandType("a\nb"), "k\x7f", map[string]int{"z": 1, "a": 2}},
		{CmdVolumeExtend, "k<1", VolumeExtend{Volume: VolumeRef{UUID: "u"}, SizeBytes: 2 << 30}},
		{CmdVolumeExtend, "k&1>", VolumeExtend{Volume: VolumeRef{UUID: "u"}, SizeBytes: 2 << 30}},
		{CmdIntentComplete, "k", IntentComplete{Pool: "p", FromTxn: 7, Intents: []string{"1-0", "2.3-1"}}},
	} {
		got, err := EncodeRequest(c.typ, at, c.request, c.payload)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := json.Marshal(c.payload)
		want, _ := json.Marshal(Command{Type: c.typ, Time: at.UTC(), Request: c.request, Payload: p})
		if !bytes.Equal(got, want) {
			t.Fatalf("EncodeRequest(%q, %q):\n got %s\nwant %s", c.typ, c.request, got, want)
		}
	}
}
