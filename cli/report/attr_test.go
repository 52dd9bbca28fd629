package report

import (
	"testing"

	"github.com/thinraft/thinraft/metadata"
)

// attrCase builds one row from the fixture's pool0 on an up node and
// changes what the case is about.
type attrCase struct {
	name string
	edit func(r *LVRow)
	want string
}

func baseVolumeRow() LVRow {
	n := metadata.Node{ID: "n1", Name: "node1", State: metadata.NodeUp}
	p := fixturePools()[0]
	v := metadata.Volume{UUID: "v", VG: "vg0", Name: "v", Pool: p.UUID, ThinID: 1, SizeBytes: gib,
		State: metadata.VolumeActive, Active: true}
	return LVRow{Pool: p, Volume: &v, Node: &n}
}

func basePoolRow() LVRow {
	r := baseVolumeRow()
	r.Volume = nil
	return r
}

func TestLVAttr(t *testing.T) {
	down := metadata.Node{ID: "n1", State: metadata.NodeDown}
	cases := []attrCase{
		// Thin volumes (type V, target t).
		{"active thin volume", func(r *LVRow) {}, "Vwi-a-tz--"},
		{"pool without zeroing", func(r *LVRow) { r.Pool.Zero = false }, "Vwi-a-t---"},
		{"read-only", func(r *LVRow) { r.Volume.ReadOnly = true }, "Vri-a-tz--"},
		{"open", func(r *LVRow) { r.Volume.Open = true }, "Vwi-aotz--"},
		{"deactivated", func(r *LVRow) { r.Volume.Active = false }, "Vwi---tz--"},
		{"creating", func(r *LVRow) { r.Volume.State = metadata.VolumeCreating }, "Vwi---tz--"},
		{"reverting", func(r *LVRow) { r.Volume.State = metadata.VolumeReverting }, "Vwi---tz--"},
		{"deleting", func(r *LVRow) { r.Volume.State = metadata.VolumeDeleting }, "Vwi---tz--"},
		{"failed: no thin device", func(r *LVRow) { r.Volume.State = metadata.VolumeFailed; r.Volume.ThinID = 0 }, "Vwi---tzF-"},
		{"thin snapshot is V too, skip activation k", func(r *LVRow) {
			r.Volume.IsSnapshot, r.Volume.Origin, r.Volume.ActivationSkip, r.Volume.Active = true, "o", true, false
		}, "Vwi---tz-k"},
		{"activated snapshot keeps k", func(r *LVRow) { r.Volume.IsSnapshot, r.Volume.ActivationSkip = true, true }, "Vwi-a-tz-k"},
		{"node down: state, open and health unknown", func(r *LVRow) { r.Node = &down }, "Vwi-XXtzX-"},
		{"nil node is taken as up", func(r *LVRow) { r.Node = nil }, "Vwi-a-tz--"},
		{"pool failed: thin failed", func(r *LVRow) { r.Pool.Usage.Mode = "Fail" }, "Vwi-a-tzF-"},
		{"pool out of data space: thin fine", func(r *LVRow) { r.Pool.Usage.Mode = "out_of_data_space" }, "Vwi-a-tz--"},
		{"pool quarantined: thin still active", func(r *LVRow) { r.Pool.State = metadata.PoolQuarantined }, "Vwi-a-tz--"},
	}
	pools := []attrCase{
		{"running pool, no active thins", func(r *LVRow) {}, "twi-a-tz--"},
		{"pool with active thins is open", func(r *LVRow) { r.ActiveThins = 2 }, "twi-aotz--"},
		{"pool without zeroing", func(r *LVRow) { r.Pool.Zero = false }, "twi-a-t---"},
		{"quarantined: check needed", func(r *LVRow) { r.Pool.State = metadata.PoolQuarantined }, "twi-c-tz--"},
		{"out of data space", func(r *LVRow) { r.Pool.Usage.Mode = "out_of_data_space" }, "twi-a-tzD-"},
		{"metadata read-only", func(r *LVRow) { r.Pool.Usage.Mode = "ro" }, "twi-a-tzM-"},
		{"failed", func(r *LVRow) { r.Pool.Usage.Mode = "Fail" }, "twi-a-tzF-"},
		{"error", func(r *LVRow) { r.Pool.Usage.Mode = "Error" }, "twi-a-tzF-"},
		{"node down", func(r *LVRow) { r.Node = &down; r.ActiveThins = 1 }, "twi-XXtzX-"},
		{"hidden data LV", func(r *LVRow) { r.Hidden = HiddenData }, "Twi-ao----"},
		{"hidden metadata LV", func(r *LVRow) { r.Hidden = HiddenMeta }, "ewi-ao----"},
		{"hidden LV, node down", func(r *LVRow) { r.Hidden = HiddenMeta; r.Node = &down }, "ewi-XX----"},
	}
	run := func(base func() LVRow, cases []attrCase) {
		for _, c := range cases {
			r := base()
			c.edit(&r)
			got := lvAttr(&r)
			if len(got) != 10 {
				t.Errorf("%s: attr %q is not 10 characters", c.name, got)
			}
			if got != c.want {
				t.Errorf("%s: got %q, want %q", c.name, got, c.want)
			}
		}
	}
	run(baseVolumeRow, cases)
	run(basePoolRow, pools)
}

func TestVGAndPVAttr(t *testing.T) {
	up := metadata.Node{ID: "a", State: metadata.NodeUp}
	down := metadata.Node{ID: "b", State: metadata.NodeDown}
	left := metadata.Node{ID: "c", State: metadata.NodeLeft}
	vgCases := []struct {
		nodes []metadata.Node
		want  string
	}{
		{nil, "wz--n-"},
		{[]metadata.Node{up}, "wz--n-"},
		{[]metadata.Node{up, down}, "wz-pn-"},
	}
	for _, c := range vgCases {
		if got := vgAttr(&VGRow{Nodes: c.nodes}); got != c.want {
			t.Errorf("vg_attr with nodes %v: got %q, want %q", c.nodes, got, c.want)
		}
	}
	pvCases := []struct {
		node metadata.Node
		want string
	}{{up, "a--"}, {down, "a-m"}, {left, "--m"}}
	for _, c := range pvCases {
		if got := pvAttr(&PVRow{Node: c.node}); got != c.want {
			t.Errorf("pv_attr of a %s node: got %q, want %q", c.node.State, got, c.want)
		}
	}
}
