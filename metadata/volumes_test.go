package metadata

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// TestVolumeTableReuse: volumes deleted and created in waves, so that the
// table's freed slots are reused many times across its chunks. Every
// volume reads back as it was made, every deleted one is gone by uuid and
// name, and a restored replica holds the same record.
func TestVolumeTableReuse(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	type made struct{ uuid, name string }
	var live []made
	create := func(name string) {
		id := h.uuid()
		h.ok(CmdVolumeCreate, VolumeCreate{UUID: id, VG: "vg0", Name: name, Pool: pool, SizeBytes: 1 << 20, Tags: []string{"t-" + name}})
		live = append(live, made{id, name})
	}
	var gone []made
	n := 0
	for wave := range 3 {
		for range 2*volChunk + 100 {
			create(fmt.Sprintf("w%d-%d", wave, n))
			n++
		}
		h.completeAll(pool)
		// Delete every other live volume.
		var keep []made
		for i, m := range live {
			if i%2 == 0 {
				keep = append(keep, m)
				continue
			}
			h.ok(CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{UUID: m.uuid}})
			gone = append(gone, m)
		}
		live = keep
		h.completeAll(pool)
	}
	for _, m := range live {
		v := h.volume(VolumeRef{UUID: m.uuid})
		if v.Name != m.name || v.UUID != m.uuid || v.State != VolumeActive || len(v.Tags) != 1 || v.Tags[0] != "t-"+m.name {
			t.Fatalf("volume %s read back as %+v", m.name, v)
		}
		if byName, ok := h.f.VolumeByName("vg0", m.name); !ok || byName.UUID != m.uuid {
			t.Fatalf("volume %s by name: %+v %v", m.name, byName, ok)
		}
	}
	for _, m := range gone {
		if _, ok := h.f.Volume(m.uuid); ok {
			t.Fatalf("deleted volume %s still found by uuid", m.name)
		}
		if _, ok := h.f.VolumeByName("vg0", m.name); ok {
			t.Fatalf("deleted volume %s still found by name", m.name)
		}
	}
	var slots int
	for _, c := range h.f.st.volumes.chunks {
		slots += len(c)
	}
	if slots >= len(live)+len(gone) {
		t.Fatalf("%d slots for %d live volumes after %d deletes: freed slots not reused", slots, len(live), len(gone))
	}
	checkInvariants(t, h.f)
	b := snapshotBytes(t, h.f)
	g := New(Options{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, snapshotBytes(t, g)) {
		t.Fatal("restored replica differs")
	}
	checkInvariants(t, g)
}
