package emu

import (
	"bytes"
	"slices"
	"testing"
)

// TestCompactAt: the journal waits for the floor however small the
// checkpoint, twice a large checkpoint, and on a small file half the room
// left next to two checkpoints and a held one.
func TestCompactAt(t *testing.T) {
	cases := []struct {
		name          string
		nblocks       uint64
		ckpt, held    int
		heldIsCurrent bool
		want          uint64
	}{
		{"large file, tiny checkpoint: the floor", 65536, 1, 0, false, journalFloor},
		{"large file, checkpoint of 33,000 empty devices", 65536, 100, 0, false, journalFloor},
		{"large file, large checkpoint: twice it", 65536, 3000, 0, false, 2*3000 + 64},
		{"2 MiB (LVM's minimum)", 512, 1, 0, false, (512 - 2 - 2) / 2},
		{"2 MiB with a held checkpoint", 512, 1, 1, false, (512 - 2 - 2 - 1) / 2},
		{"held checkpoint that is the current one counts once", 512, 1, 1, true, (512 - 2 - 2) / 2},
		{"full file: twice the checkpoint", 512, 200, 0, false, 2*200 + 64},
		{"file smaller than two checkpoints", 300, 200, 0, false, 2*200 + 64},
		{"8 MiB", 2048, 2, 0, false, (2048 - 2 - 4) / 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &store{nblocks: c.nblocks, ckptBlks: make([]uint64, c.ckpt)}
			for i := range s.ckptBlks {
				s.ckptBlks[i] = uint64(10 + i)
			}
			if c.held > 0 {
				s.heldBlks = []uint64{5000}
				if c.heldIsCurrent {
					s.heldBlks = s.ckptBlks
				}
			}
			if got := s.compactAt(uint64(c.ckpt)); got != c.want {
				t.Fatalf("compactAt = %d, want %d", got, c.want)
			}
		})
	}
}

// TestSmallMetadataDeviceCompacts: on a 2 MiB metadata file the journal is
// compacted in the background long before the file fills, the state
// survives reopens, and the foreground fallback is left for emergencies.
func TestSmallMetadataDeviceCompacts(t *testing.T) {
	r := newStoreRig(t, 2<<20)
	installs, foreground := 0, 0
	for i := 0; i < 2000; i++ {
		epoch, ckpt := r.s.sb.epoch, r.s.sb.ckpt
		r.change()
		r.commit()
		switch {
		case r.s.sb.epoch != epoch:
			foreground++
		case r.s.sb.ckpt != ckpt:
			installs++
		}
		if i%331 == 0 {
			want := encodeState(r.m)
			r.reopen()
			if got := encodeState(r.m); !bytes.Equal(got, want) {
				t.Fatalf("commit %d: state differs after reopen", i)
			}
		}
		if free := r.s.freeBlocks(); free < r.s.nblocks/8 {
			t.Fatalf("commit %d: %d of %d blocks free", i, free, r.s.nblocks)
		}
	}
	if installs == 0 {
		t.Fatal("no background checkpoint was installed")
	}
	if foreground > installs/4 {
		t.Fatalf("%d foreground checkpoints against %d background ones", foreground, installs)
	}
	if err := r.m.check(); err != nil {
		t.Fatal(err)
	}
}

// TestStoreAlloc: allocation takes the lowest free blocks, across whole
// words of used ones and up to the file's last block.
func TestStoreAlloc(t *testing.T) {
	cases := []struct {
		name    string
		nblocks uint64
		used    []uint64 // used blocks besides the superblocks: [from, to) pairs
		want    int
		blks    []uint64
	}{
		{"after two full words", 300, []uint64{2, 200}, 3, []uint64{200, 201, 202}},
		{"exactly one full word", 256, []uint64{2, 128}, 1, []uint64{128}},
		{"gap inside a word", 256, []uint64{2, 70, 71, 130}, 2, []uint64{70, 130}},
		{"last blocks of a partial word", 100, []uint64{2, 98}, 2, []uint64{98, 99}},
		{"full file", 100, []uint64{2, 100}, 1, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &store{}
			s.setSize(c.nblocks)
			s.mark(0)
			s.mark(1)
			for i := 0; i < len(c.used); i += 2 {
				for b := c.used[i]; b < c.used[i+1]; b++ {
					s.mark(b)
				}
			}
			_, blks, err := s.alloc(c.want)
			if c.blks == nil {
				if err == nil {
					t.Fatalf("alloc on a full file gave %v", blks)
				}
				return
			}
			if err != nil || !slices.Equal(blks, c.blks) {
				t.Fatalf("alloc(%d) = %v, %v; want %v", c.want, blks, err, c.blks)
			}
		})
	}
}
