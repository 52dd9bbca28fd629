package driver

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

func TestNames(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{VolumeName(Volume{ID: "abc"}), "volume-abc"},
		{VolumeName(Volume{ID: "abc", Name: "custom"}), "custom"},
		{SnapshotName(Snapshot{ID: "s1"}), "_snapshot-s1"},
		{SnapshotName(Snapshot{ID: "s1", Name: "snapshot-s1"}), "_snapshot-s1"},
		{SnapshotName(Snapshot{ID: "s1", Name: "snap1"}), "snap1"},
		{SnapshotName(Snapshot{ID: "s1", Name: "mine"}), "mine"},
		{snapshotSource(Snapshot{VolumeID: "v"}), "volume-v"},
		{snapshotSource(Snapshot{VolumeID: "v", VolumeName: "vn"}), "vn"},
		{uuidOf("1A000000-0000-4000-8000-00000000000F"), "1a000000-0000-4000-8000-00000000000f"},
		{uuidOf("1a000000-0000-4000-8000-00000000000"), ""},
		{uuidOf("1a000000x0000-4000-8000-000000000001"), ""},
		{uuidOf("1g000000-0000-4000-8000-000000000001"), ""},
		{poolOfHost("c1@lvm#pool0"), "pool0"},
		{poolOfHost("c1@lvm"), ""},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: %q, want %q", i, c.got, c.want)
		}
	}
}

// TestCapacity checks the free capacity formula (docs/cinder.md) on
// reported and unreported pools.
func TestCapacity(t *testing.T) {
	const block = 64 << 10
	pool := func(u metadata.Usage) metadata.Pool {
		return metadata.Pool{ChunkSectors: 128, DataBytes: 1000 * block, MetaBytes: 100 * 4096, State: metadata.PoolActive, Usage: u}
	}
	cases := []struct {
		name        string
		p           metadata.Pool
		reserve     int
		up          bool
		total, free uint64 // in data blocks
		wantUp      bool
	}{
		{"unreported: devices as recorded, kernel metadata reserve used", pool(metadata.Usage{}), 10, true, 1000, 900, true},
		{"data bound", pool(metadata.Usage{DataUsed: 500, DataTotal: 1000, MetaUsed: 20, MetaTotal: 100, Mode: "rw"}), 10, true, 1000, 400, true},
		{"at the reserve", pool(metadata.Usage{DataUsed: 900, DataTotal: 1000, MetaUsed: 20, MetaTotal: 100, Mode: "rw"}), 10, true, 1000, 0, true},
		{"under the reserve", pool(metadata.Usage{DataUsed: 950, DataTotal: 1000, MetaUsed: 20, MetaTotal: 100, Mode: "rw"}), 10, true, 1000, 0, true},
		{"metadata bound: 2 blocks above the line map 256 data blocks", pool(metadata.Usage{DataUsed: 0, DataTotal: 1000, MetaUsed: 88, MetaTotal: 100, Mode: "rw"}), 10, true, 1000, 256, true},
		{"metadata under its reserve", pool(metadata.Usage{DataUsed: 0, DataTotal: 1000, MetaUsed: 95, MetaTotal: 100, Mode: "rw"}), 10, true, 1000, 0, true},
		{"reserve rounds up", pool(metadata.Usage{DataUsed: 0, DataTotal: 1001, MetaUsed: 1, MetaTotal: 100, Mode: "rw"}), 10, true, 1001, 1001 - 101, true},
		{"node down", pool(metadata.Usage{DataTotal: 1000, MetaTotal: 100, Mode: "rw"}), 10, false, 1000, 0, false},
		{"read-only pool", pool(metadata.Usage{DataTotal: 1000, MetaTotal: 100, Mode: "ro"}), 10, true, 1000, 0, false},
	}
	for _, c := range cases {
		got := capacityOf(c.p, c.reserve, c.up)
		if got.total != c.total*block || got.free != c.free*block || got.up != c.wantUp {
			t.Errorf("%s: total %d free %d up %v blocks, want %d %d %v", c.name, got.total/block, got.free/block, got.up, c.total, c.free, c.wantUp)
		}
	}
	q := pool(metadata.Usage{})
	q.State = metadata.PoolQuarantined
	if c := capacityOf(q, 10, true); c.up || c.free != 0 {
		t.Errorf("quarantined pool: %+v, want down with nothing free", c)
	}
}

func TestPaginate(t *testing.T) {
	mk := func(name string, size int64) ManageableVolume {
		return ManageableVolume{Reference: map[string]string{"source-name": name}, Size: size}
	}
	all := []ManageableVolume{mk("c", 1), mk("a", 3), mk("b", 2), mk("d", 2)}
	ip := func(n int) *int { return &n }
	names := func(es []ManageableVolume) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Reference["source-name"])
		}
		return out
	}
	cases := []struct {
		name          string
		marker        map[string]string
		limit, offset *int
		keys, dirs    []string
		want          []string
		bad           bool
	}{
		{name: "default: by reference", want: []string{"a", "b", "c", "d"}},
		{name: "limit", limit: ip(2), want: []string{"a", "b"}},
		{name: "marker", marker: map[string]string{"source-name": "b"}, limit: ip(1), want: []string{"c"}},
		{name: "marker and offset", marker: map[string]string{"source-name": "a"}, offset: ip(1), want: []string{"c", "d"}},
		{name: "size desc, reference asc", keys: []string{"size", "reference"}, dirs: []string{"desc", "asc"}, want: []string{"a", "b", "d", "c"}},
		{name: "one direction for two keys", keys: []string{"size", "reference"}, dirs: []string{"desc"}, want: []string{"a", "d", "b", "c"}},
		{name: "offset past the end", offset: ip(9), want: nil},
		{name: "last marker", marker: map[string]string{"source-name": "d"}, want: nil},
		{name: "unknown marker", marker: map[string]string{"source-name": "zz"}, bad: true},
		{name: "bad key", keys: []string{"name"}, bad: true},
		{name: "bad dir", dirs: []string{"up"}, bad: true},
		{name: "negative limit", limit: ip(-1), bad: true},
	}
	for _, c := range cases {
		got, err := paginate(all, c.marker, c.limit, c.offset, c.keys, c.dirs)
		if c.bad {
			if err == nil {
				t.Errorf("%s: accepted, want an error", c.name)
			}
			continue
		}
		if err != nil || !slices.Equal(names(got), c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, names(got), err, c.want)
		}
	}
}

// TestWrap: API errors map to the driver kinds Cinder's exceptions follow.
func TestWrap(t *testing.T) {
	cases := []struct {
		err  error
		want Kind
	}{
		{&client.Error{Code: "not_found"}, KindNotFound},
		{&client.Error{Code: "exists"}, KindExists},
		{&client.Error{Code: "conflict", Message: "volume vg0/v is in use"}, KindBusy},
		{&client.Error{Code: "invalid"}, KindInvalid},
		{&client.Error{Code: "no_space"}, KindNoSpace},
		{&client.Error{Code: "quota"}, KindNoSpace},
		{&client.Error{Code: "unavailable"}, KindUnavailable},
		{&client.Error{Code: "not_leader"}, KindUnavailable},
		{&client.Error{Code: "outcome_unknown"}, KindUnavailable},
		{&client.Error{Code: "abandoned", Message: "operation 7 abandoned: pool p: create_thin refused: free data space 8.8% is under the 10% reserve"}, KindNoSpace},
		{&client.Error{Code: "abandoned", Message: "operation 7 abandoned: kernel said no"}, KindBackend},
		{&client.Error{Code: "internal"}, KindBackend},
		{errorf(KindNotSupported, "x"), KindNotSupported},
	}
	for _, c := range cases {
		err := wrap(c.err, "doing %s", "it")
		var de *Error
		if !errors.As(err, &de) || de.Kind != c.want {
			t.Errorf("%v: wrapped as %v, want kind %s", c.err, err, c.want)
		}
		if !errors.Is(err, &Error{Kind: c.want}) {
			t.Errorf("%v: errors.Is does not match kind %s", c.err, c.want)
		}
		if c.want.Status() < 400 {
			t.Errorf("kind %s: status %d", c.want, c.want.Status())
		}
	}
}

// TestCalls: every listed call has arguments and is dispatched.
func TestCalls(t *testing.T) {
	calls := Calls()
	if !slices.IsSorted(calls) || len(calls) != 18 {
		t.Fatalf("Calls() = %v: want the 18 calls, sorted", calls)
	}
	d := &Driver{}
	for _, c := range calls {
		if _, ok := argsOf(c); !ok {
			t.Errorf("%s has no argument list", c)
		}
		// A call Dispatch does not know answers "unknown call" before
		// touching its (nil) arguments; known ones would panic on them.
		func() {
			defer func() { _ = recover() }()
			if _, err := d.Dispatch(t.Context(), c, &Request{}); err != nil && strings.Contains(err.Error(), "unknown call") {
				t.Errorf("%s is not dispatched", c)
			}
		}()
	}
}
