package emu

import (
	"bytes"
	"testing"
)

// TestEncoderReuse encodes a changing state with one reused encoder, as the
// store does, through growth and shrinkage (devices and chunks deleted): each
// payload must equal a fresh encoder's and decode to the same state.
func TestEncoderReuse(t *testing.T) {
	r := newStoreRig(t, 4<<20)
	var e ckptEncoder
	for i := 0; i < 300; i++ {
		r.change()
		if i%40 == 39 {
			// Shrink: the next image has fewer devices and chunks than the
			// buffers hold from before.
			for id := range r.m.devs {
				if id%2 == 0 {
					if err := r.m.deleteThin(id); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		r.commit()
		e.capture(r.m)
		got := e.encode()
		want := encodeState(r.m)
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: reused encoder's payload differs from a fresh one's", i)
		}
		m, err := decodeState(got, r.m.dataBlockSectors)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if again := encodeState(m); !bytes.Equal(again, want) {
			t.Fatalf("round %d: decoded state encodes differently", i)
		}
		for _, ref := range e.img.refs[:cap(e.img.refs)] {
			if ref.c != nil {
				t.Fatalf("round %d: the encoder still references a chunk after encoding", i)
			}
		}
	}
}
