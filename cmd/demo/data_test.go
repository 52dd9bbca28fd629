package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImage writes an image the way the demo's NBD reads produce one and
// checks that compare accepts exactly it: a flipped byte anywhere, a layer
// in the wrong order or a wrong size is reported with its offset.
func TestImage(t *testing.T) {
	a := pattern{name: "A", base: 0, size: 64 * sector}
	b := pattern{name: "B", base: 16 * sector, size: 16 * sector}
	im := image{size: 128 * sector, layers: []pattern{a, b}}
	dir := t.TempDir()
	write := func(name string, mutate func([]byte)) string {
		t.Helper()
		buf := make([]byte, im.size)
		for off := int64(0); off < im.size; off += sector {
			im.expect(off, buf[off:off+sector])
		}
		if mutate != nil {
			mutate(buf)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if err := im.compareFile(write("good", nil)); err != nil {
		t.Fatalf("the expected image: %v", err)
	}
	for _, c := range []struct {
		name   string
		mutate func([]byte)
		err    string
	}{
		{"byte in A", func(b []byte) { b[3*sector+100] ^= 1 }, "offset 1536"},
		{"byte in B", func(b []byte) { b[20*sector] ^= 1 }, "pattern B's sector"},
		{"byte in zeros", func(b []byte) { b[100*sector+7] = 1 }, "expected zeros"},
		{"A where B belongs", func(b []byte) {
			for off := int64(16 * sector); off < 32*sector; off += sector {
				a.sectorAt(off, b[off:off+sector])
			}
		}, `got a sector stamped "A @8192"`},
		{"truncated", func(b []byte) {}, "size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := write(c.name, c.mutate)
			if c.name == "truncated" {
				if err := os.Truncate(path, im.size-sector); err != nil {
					t.Fatal(err)
				}
			}
			err := im.compareFile(path)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
		})
	}
}

// TestPatternFile checks that a pattern's file is the image's bytes at
// the pattern's place, and that patterns and offsets never agree.
func TestPatternFile(t *testing.T) {
	p := pattern{name: "B", base: 8 * sector, size: 8 * sector}
	path := filepath.Join(t.TempDir(), "B.bin")
	if err := p.writeFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != p.size {
		t.Fatalf("file is %d bytes, want %d", len(got), p.size)
	}
	want := make([]byte, sector)
	for i := int64(0); i < p.size; i += sector {
		p.sectorAt(p.base+i, want)
		if string(got[i:i+sector]) != string(want) {
			t.Fatalf("file sector at %d is not the pattern's sector at volume offset %d", i, p.base+i)
		}
	}
	other := make([]byte, sector)
	pattern{name: "A"}.sectorAt(p.base, other)
	p.sectorAt(p.base, want)
	if string(other[20:]) == string(want[20:]) {
		t.Fatal("patterns A and B agree past the stamp")
	}
	p.sectorAt(p.base+sector, other)
	if string(other[20:]) == string(want[20:]) {
		t.Fatal("two offsets of one pattern agree past the stamp")
	}
}
