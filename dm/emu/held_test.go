package emu

import (
	"bytes"
	"testing"
)

// TestHeldViewSkipsEmptyDevices: the in-memory held view leaves out devices
// that map nothing; mapping into such a device, deleting mapped ones and
// snapshotting after the reserve must keep every reference count right,
// before and after a reopen, and the held checkpoint must still list the
// empty devices.
func TestHeldViewSkipsEmptyDevices(t *testing.T) {
	r := newStoreRig(t, 4<<20)
	for id := range uint32(6) {
		if err := r.m.createThin(id); err != nil {
			t.Fatal(err)
		}
	}
	for vb := range uint64(300) {
		b, err := r.m.alloc()
		if err != nil {
			t.Fatal(err)
		}
		r.m.setMapping(r.m.devs[1], vb, b, r.m.time)
	}
	r.commit()
	if err := r.s.checkpoint(r.m, true); err != nil {
		t.Fatal(err)
	}
	r.m.heldRoot = r.s.sb.held
	r.m.pinHeld()
	held := encodeState(r.m)
	if len(r.m.held) != 1 {
		t.Fatalf("held view has %d devices, want the 1 that maps blocks", len(r.m.held))
	}
	// After the reserve: map into an empty device, snapshot it, delete the
	// mapped one.
	for vb := range uint64(200) {
		b, err := r.m.alloc()
		if err != nil {
			t.Fatal(err)
		}
		r.m.setMapping(r.m.devs[2], vb, b, r.m.time)
	}
	if err := r.m.createSnap(7, 2); err != nil {
		t.Fatal(err)
	}
	if err := r.m.deleteThin(1); err != nil {
		t.Fatal(err)
	}
	r.commit()
	if err := r.m.check(); err != nil {
		t.Fatal(err)
	}
	r.reopen() // checks the adopted held view
	hs, hm, err := openStore(r.path, true, true)
	if err != nil {
		t.Fatal(err)
	}
	hs.close()
	if got := encodeState(hm); !bytes.Equal(got, held) || len(hm.devs) != 6 {
		t.Fatalf("held checkpoint differs from the state at the reserve (%d devices)", len(hm.devs))
	}
	if err := r.s.releaseHeld(); err != nil {
		t.Fatal(err)
	}
	r.m.heldRoot = 0
	r.m.unpinHeld()
	if err := r.m.check(); err != nil {
		t.Fatal(err)
	}
	if r.m.refs[0] != 0 {
		t.Fatalf("data block 0 (the deleted device's) still has %d references after the release", r.m.refs[0])
	}
}
