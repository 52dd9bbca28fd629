package emu

import (
	"context"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/thinraft/thinraft/dm"
)

// Benchmarks of a thin device against a plain file of the same size in the
// same directory (make bench turns the pairs into ratios).

const benchSize = 256 << 20

type ioDev interface {
	io.ReaderAt
	io.WriterAt
}

func benchThin(b *testing.B, snapshot bool) ioDev {
	dir := b.TempDir()
	mkfile(b, filepath.Join(dir, "meta"), 16<<20)
	mkfile(b, filepath.Join(dir, "data"), 2*benchSize)
	e, err := New(Options{Dir: filepath.Join(dir, "eng")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	ctx := context.Background()
	p := dm.ThinPoolParams{MetadataDev: "../meta", DataDev: "../data", DataBlockSectors: testBlockSectors}
	if _, err := e.Create(ctx, "pool", dm.CreateOptions{Table: dm.Table{p.Target(2 * benchSize / dm.SectorSize)}}); err != nil {
		b.Fatal(err)
	}
	e.Message(ctx, "pool", 0, "create_thin 0")
	tbl := dm.Table{dm.ThinParams{PoolDev: "pool", ID: 0}.Target(benchSize / dm.SectorSize)}
	if _, err := e.Create(ctx, "t0", dm.CreateOptions{Table: tbl}); err != nil {
		b.Fatal(err)
	}
	bd, err := e.Open(ctx, "t0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bd.Close() })
	if snapshot {
		prefill(b, bd)
		e.Suspend(ctx, "t0", dm.SuspendOptions{})
		e.Message(ctx, "pool", 0, "create_snap 1 0")
		e.Resume(ctx, "t0")
	}
	return bd
}

func benchFile(b *testing.B) ioDev {
	f, err := os.Create(filepath.Join(b.TempDir(), "plain"))
	if err != nil {
		b.Fatal(err)
	}
	f.Truncate(benchSize)
	b.Cleanup(func() { f.Close() })
	return f
}

func prefill(b *testing.B, d ioDev) {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for off := int64(0); off < benchSize; off += int64(len(buf)) {
		if _, err := d.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
}

func runRandom(b *testing.B, d ioDev, write bool) {
	buf := make([]byte, 4096)
	rng := rand.New(rand.NewSource(1))
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := rng.Int63n(benchSize/4096) * 4096
		var err error
		if write {
			_, err = d.WriteAt(buf, off)
		} else {
			_, err = d.ReadAt(buf, off)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func runSeq(b *testing.B, d ioDev, write bool) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := int64(i) * int64(len(buf)) % benchSize
		var err error
		if write {
			_, err = d.WriteAt(buf, off)
		} else {
			_, err = d.ReadAt(buf, off)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRandWrite4K(b *testing.B) {
	b.Run("file", func(b *testing.B) { runRandom(b, benchFile(b), true) })
	b.Run("thin", func(b *testing.B) { runRandom(b, benchThin(b, false), true) })
}

func BenchmarkRandRead4K(b *testing.B) {
	b.Run("file", func(b *testing.B) { d := benchFile(b); prefill(b, d); runRandom(b, d, false) })
	b.Run("thin", func(b *testing.B) { d := benchThin(b, false); prefill(b, d); runRandom(b, d, false) })
}

func BenchmarkSeqWrite1M(b *testing.B) {
	b.Run("file", func(b *testing.B) { runSeq(b, benchFile(b), true) })
	b.Run("thin", func(b *testing.B) { runSeq(b, benchThin(b, false), true) })
}

func BenchmarkSeqRead1M(b *testing.B) {
	b.Run("file", func(b *testing.B) { d := benchFile(b); prefill(b, d); runSeq(b, d, false) })
	b.Run("thin", func(b *testing.B) { d := benchThin(b, false); prefill(b, d); runSeq(b, d, false) })
}

// BenchmarkCOWRandWrite4K writes 4 KiB at random into an origin whose
// every block is shared with a snapshot: each first write copies a block.
func BenchmarkCOWRandWrite4K(b *testing.B) {
	b.Run("file", func(b *testing.B) { d := benchFile(b); prefill(b, d); runRandom(b, d, true) })
	b.Run("thin", func(b *testing.B) { runRandom(b, benchThin(b, true), true) })
}

// BenchmarkReadPathOverhead reads unmapped 4 KiB blocks: no system call,
// so what remains is the engine's own cost per IO (bounds, gates, locks,
// lookups) plus clearing 4 KiB.
func BenchmarkReadPathOverhead(b *testing.B) { runRandom(b, benchThin(b, false), false) }
