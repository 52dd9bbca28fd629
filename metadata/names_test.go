package metadata

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	for _, c := range []struct {
		name   string
		vg, lv bool
	}{
		{"vg0", true, true},
		{"a+b_c.d-e", true, true},
		{"A9", true, true},
		{strings.Repeat("x", 127), true, true},
		{strings.Repeat("x", 128), false, false},
		{"", false, false},
		{".", false, false},
		{"..", false, false},
		{"...", true, true},
		{"-a", false, false},
		{"a-", true, true},
		{"a b", false, false},
		{"a/b", false, false},
		{"é", false, false},
		{"snapshot", true, false},
		{"snapshot0", true, false},
		{"pvmove1", true, false},
		{"mysnapshot", true, true},
		{"data_tdata", true, false},
		{"x_rimage_1", true, false},
		{"a_tmet", true, true},
	} {
		if got := ValidateVGName(c.name) == nil; got != c.vg {
			t.Errorf("VG %q valid=%v, want %v", c.name, got, c.vg)
		}
		if got := ValidateLVName(c.name) == nil; got != c.lv {
			t.Errorf("LV %q valid=%v, want %v", c.name, got, c.lv)
		}
	}
	if err := ValidateLVName("a b"); err == nil || !strings.HasPrefix(err.Message, "volume name") {
		t.Errorf("LV error message %v", err)
	}
}

func TestTags(t *testing.T) {
	got, err := normalizeTags([]string{"b", "a/x=1", "b", "#c:d&!"})
	if err != nil || strings.Join(got, " ") != "#c:d&! a/x=1 b" {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range [][]string{{""}, {"a b"}, {"a,b"}, {strings.Repeat("t", MaxTagLen+1)}, make([]string, MaxTags+1)} {
		if _, err := normalizeTags(bad); err == nil {
			t.Errorf("tags %.30q accepted", bad)
		}
	}
}

func TestSizesAndUUIDs(t *testing.T) {
	for n, ok := range map[uint64]bool{0: false, 1: false, 511: false, 512: true, 1 << 40: true, 1<<62 + 512: false} {
		if got := validateSize("s", n) == nil; got != ok {
			t.Errorf("size %d valid=%v", n, got)
		}
	}
	for s, ok := range map[string]bool{
		"0123abcd-0000-4000-8000-00000000000a": true,
		"0123ABCD-0000-4000-8000-00000000000A": true,
		"0123abcd-0000-4000-8000-00000000000":  false,
		"0123abcd+0000-4000-8000-00000000000a": false,
		"0123abcg-0000-4000-8000-00000000000a": false,
	} {
		if got := validateUUID("x", s) == nil; got != ok {
			t.Errorf("uuid %q valid=%v", s, got)
		}
	}
}

// TestNameSet checks the chunked ordered set against a sorted slice through
// enough inserts and removes to split and empty chunks. Slots here index a
// table of names, as the record's index its volume table.
func TestNameSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var table []string
	slotOf := map[string]int32{}
	s := nameSet{name: func(h int32) string { return table[h] }}
	ref := map[string]bool{}
	for i := range 20000 {
		name := string(rune('a'+rng.IntN(26))) + strings.Repeat("x", rng.IntN(3)) + string(rune('0'+rng.IntN(10))) + string(rune('a'+rng.IntN(26)))
		h, known := slotOf[name]
		if !known {
			h = int32(len(table))
			table = append(table, name)
			slotOf[name] = h
		}
		switch {
		case i%3 == 2 && ref[name]:
			s.remove(h)
			delete(ref, name)
		case i%3 != 2 && !ref[name]:
			s.insert(h)
			ref[name] = true
		}
	}
	want := make([]string, 0, len(ref))
	for n := range ref {
		want = append(want, n)
	}
	slices.Sort(want)
	names := func(hs []int32) []string {
		out := make([]string, len(hs))
		for i, h := range hs {
			out[i] = table[h]
		}
		return out
	}
	if s.len() != len(want) || !slices.Equal(names(s.after("", len(want)+5)), want) {
		t.Fatalf("set has %d, want %d", s.len(), len(want))
	}
	for _, c := range s.chunks {
		if len(c) == 0 || len(c) > nameChunk {
			t.Fatalf("chunk of %d", len(c))
		}
	}
	// Paging from every kind of cursor: present, absent, before and after
	// everything.
	for _, cursor := range []string{"", want[0], want[len(want)/2], want[len(want)/2] + "!", "zzzz", "0"} {
		i, _ := slices.BinarySearch(want, cursor)
		for i < len(want) && want[i] <= cursor {
			i++
		}
		exp := want[i:min(i+7, len(want))]
		if got := names(s.after(cursor, 7)); !slices.Equal(got, exp) {
			t.Fatalf("after %q: %v, want %v", cursor, got, exp)
		}
	}
	if len(s.chunks) < 2 {
		t.Fatal("the test never split a chunk")
	}
}

// TestNameIndexCollisions: volume names whose hashes collide (here all of
// them) each resolve to their own slot through add, rename-like remove and
// re-add, and removal, with pool names beside them.
func TestNameIndexCollisions(t *testing.T) {
	table := map[int32]string{}
	x := newNameIndex(func(h int32) string { return table[h] })
	x.vols.hash = func(string) uint64 { return 1 }
	x.pools["pool-a"] = "uuid-a"
	for h := range int32(50) {
		table[h] = fmt.Sprintf("v%d", h)
		x.addVolume(table[h], h)
	}
	// Slot 0 holds the hash; renaming it hands the hash on.
	x.removeVolume(table[0], 0)
	table[0] = "renamed"
	x.addVolume("renamed", 0)
	for h := range int32(50) {
		if got, ok := x.volume(table[h]); !ok || got != h {
			t.Fatalf("%s -> %d, %v; want %d", table[h], got, ok, h)
		}
	}
	if _, ok := x.volume("v0"); ok || !x.taken("pool-a") || x.taken("v0") || x.len() != 51 {
		t.Fatalf("v0 still found, or pool-a free, or %d names", x.len())
	}
	for h := range int32(50) {
		x.removeVolume(table[h], h)
	}
	if x.len() != 1 {
		t.Fatalf("%d names after removing every volume", x.len())
	}
}

func TestListVolumesPaging(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	const n = 1200
	var names []string
	for i := range n {
		name := fmt.Sprintf("vol%04d", i)
		names = append(names, name)
		h.ok(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: name, Pool: pool, SizeBytes: 1 << 20})
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		vols, next := h.f.ListVolumes("vg0", cursor, 100)
		for _, v := range vols {
			got = append(got, v.Name)
		}
		if next == "" {
			if pages != 11 {
				t.Fatalf("%d pages", pages+1)
			}
			break
		}
		cursor = next
	}
	if !slices.Equal(got, names) {
		t.Fatalf("listed %d names", len(got))
	}
	if vols, next := h.f.ListVolumes("nope", "", 10); vols != nil || next != "" {
		t.Fatal("unknown VG listed")
	}
}
