package metadata

import "testing"

// TestActivation: creates are active unless they skip activation, thin
// snapshots skip it by default (LVM's habits), and an open volume can be
// neither deactivated nor deleted.
func TestActivation(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	v := h.create(pool, "v", 1<<20)
	if !h.volume(VolumeRef{UUID: v}).Active {
		t.Fatal("a new volume is not active")
	}
	skip := h.uuid()
	h.ok(CmdVolumeCreate, VolumeCreate{UUID: skip, VG: "vg0", Name: "k", Pool: pool, SizeBytes: 1 << 20, ActivationSkip: true})
	if h.volume(VolumeRef{UUID: skip}).Active {
		t.Fatal("a volume created with activation skip is active")
	}
	s1, s2 := h.uuid(), h.uuid()
	h.ok(CmdSnapshotCreate, SnapshotCreate{UUID: s1, Origin: VolumeRef{UUID: v}, Name: "s1"})
	h.ok(CmdSnapshotCreate, SnapshotCreate{UUID: s2, Origin: VolumeRef{UUID: v}, Name: "s2", NoActivationSkip: true})
	h.completeAll(pool)
	if sv := h.volume(VolumeRef{UUID: s1}); sv.Active || !sv.ActivationSkip {
		t.Fatalf("default snapshot: %+v", sv)
	}
	if sv := h.volume(VolumeRef{UUID: s2}); !sv.Active || sv.ActivationSkip {
		t.Fatalf("snapshot with -kn: %+v", sv)
	}
	h.ok(CmdVolumeSetActive, VolumeSetActive{Volume: VolumeRef{UUID: s1}, Active: true})
	h.ok(CmdVolumeSetSkip, VolumeSetActivationSkip{Volume: VolumeRef{UUID: s1}, Skip: false})
	if sv := h.volume(VolumeRef{UUID: s1}); !sv.Active || sv.ActivationSkip {
		t.Fatalf("after lvchange -ay -kn: %+v", sv)
	}

	h.ok(CmdPoolReportUsage, PoolReportUsage{Pool: pool, Volumes: []VolumeUsage{{UUID: v, Open: true}}})
	h.checkRefused = true
	h.fail(CodeConflict, CmdVolumeSetActive, VolumeSetActive{Volume: VolumeRef{UUID: v}, Active: false})
	h.fail(CodeConflict, CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{UUID: v}})
	h.checkRefused = false
	h.ok(CmdPoolReportUsage, PoolReportUsage{Pool: pool, Volumes: []VolumeUsage{{UUID: v, Open: false}}})
	h.ok(CmdVolumeSetActive, VolumeSetActive{Volume: VolumeRef{UUID: v}, Active: false})
	if h.volume(VolumeRef{UUID: v}).Active {
		t.Fatal("deactivate did not take")
	}
	h.ok(CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{UUID: v}})
}
