package metadata

import (
	"slices"
	"testing"
)

// TestVolumeBriefsOfPool: one brief per volume of the pool, with the
// fields the full read has.
func TestVolumeBriefsOfPool(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	for _, name := range []string{"a", "b", "c"} {
		h.create(pool, name, 1<<20)
	}
	h.ok(CmdPoolReportUsage, PoolReportUsage{Pool: pool, Volumes: []VolumeUsage{{UUID: h.volume(VolumeRef{VG: "vg0", Name: "b"}).UUID, ExclusiveBytes: 4096, SharedBytes: 8192, Open: true}}})
	var full []Volume
	var briefs []VolumeBrief
	h.f.Read(func(v View) { full, briefs = v.VolumesOfPool(pool), v.VolumeBriefsOfPool(pool) })
	slices.SortFunc(briefs, func(a, b VolumeBrief) int { return int(a.ThinID) - int(b.ThinID) })
	if len(briefs) != 3 || len(full) != 3 {
		t.Fatalf("%d briefs, %d volumes; want 3", len(briefs), len(full))
	}
	for i, v := range full {
		want := VolumeBrief{UUID: v.UUID, ThinID: v.ThinID, SizeBytes: v.SizeBytes, ExclusiveBytes: v.ExclusiveBytes, SharedBytes: v.SharedBytes, Open: v.Open}
		if briefs[i] != want {
			t.Fatalf("brief %+v, want %+v", briefs[i], want)
		}
	}
	if b := briefs[1]; !b.Open || b.ExclusiveBytes != 4096 || b.SharedBytes != 8192 {
		t.Fatalf("reported volume's brief %+v lost its figures", b)
	}
	h.f.Read(func(v View) {
		if got := v.VolumeBriefsOfPool("no-such-pool"); got != nil {
			t.Fatalf("unknown pool: %v", got)
		}
	})
}
