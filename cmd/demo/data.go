package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

const (
	mib = 1 << 20
	// sector is the unit the patterns stamp: every 512 bytes carry their
	// pattern's name and offset, so a misplaced write shows where from.
	sector = 512
)

// pattern is a reproducible stream of bytes: each 512-byte sector starts
// with "<name> @<offset>" and is filled from a generator seeded by the
// name and offset, so two patterns (or two offsets) never agree.
type pattern struct {
	name string
	// base is where the pattern's first byte lands on the volume; the
	// stamp uses volume offsets, so the file is the volume's expected
	// bytes there.
	base int64
	size int64
}

// sectorAt writes the pattern's sector at volume offset off into b
// (len(b) == sector).
func (p pattern) sectorAt(off int64, b []byte) {
	n := copy(b, fmt.Sprintf("%s @%d\n", p.name, off))
	x := uint64(off)*0x9e3779b97f4a7c15 ^ uint64(len(p.name))<<56
	for _, c := range []byte(p.name) {
		x = x*31 + uint64(c)
	}
	for i := n; i < sector; i += 8 {
		// xorshift64: cheap and never constant.
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[i:], w[:])
	}
}

// writeFile writes the pattern to path.
func (p pattern) writeFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	b := make([]byte, sector)
	for off := p.base; off < p.base+p.size; off += sector {
		p.sectorAt(off, b)
		if _, err := bw.Write(b); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// image describes a volume's expected content: patterns laid over zeros,
// later ones over earlier ones.
type image struct {
	size   int64
	layers []pattern
}

// expect fills b with the expected bytes of the sector at off.
func (im image) expect(off int64, b []byte) {
	clear(b)
	for i := len(im.layers) - 1; i >= 0; i-- {
		p := im.layers[i]
		if off >= p.base && off < p.base+p.size {
			p.sectorAt(off, b)
			return
		}
	}
}

// compareFile checks that the file at path holds exactly the image. The
// error names the first differing offset and what was expected there.
func (im image) compareFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != im.size {
		return mismatch("size of "+path, im.size, st.Size())
	}
	return im.compare(f)
}

func (im image) compare(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	got := make([]byte, sector)
	want := make([]byte, sector)
	for off := int64(0); off < im.size; off += sector {
		if _, err := io.ReadFull(br, got); err != nil {
			return fmt.Errorf("read at %d: %w", off, err)
		}
		im.expect(off, want)
		if !bytes.Equal(got, want) {
			return mismatch(fmt.Sprintf("data at offset %d (%.2f MiB)", off, float64(off)/mib), im.describe(off), describeSector(got))
		}
	}
	return nil
}

// describe names what the image holds at off.
func (im image) describe(off int64) string {
	for i := len(im.layers) - 1; i >= 0; i-- {
		p := im.layers[i]
		if off >= p.base && off < p.base+p.size {
			return fmt.Sprintf("pattern %s's sector", p.name)
		}
	}
	return "zeros"
}

// describeSector shows what a read sector holds: zeros, or its stamp.
func describeSector(b []byte) string {
	if bytes.Count(b, []byte{0}) == len(b) {
		return "zeros"
	}
	if i := bytes.IndexByte(b, '\n'); i > 0 && i < 64 {
		return fmt.Sprintf("a sector stamped %q", b[:i])
	}
	return "bytes of no pattern"
}
