package emu

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTime is the process's user+system CPU time so far: every goroutine's,
// so a background encoder's work counts too.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCommitManyDevices times single commits of the cluster bench's
// shape (a create_thin or create_snap, the oldest device deleted to keep the
// count at n, a transaction id) in a pool of n devices. Whether compaction
// makes a commit's cost grow with the device count shows in:
//
//	alloc-B/commit    bytes allocated per commit, the background
//	                  encoder's included (it is the GC's load);
//	cpu-µs/commit     process CPU time per commit, the encoder's included
//	                  (fdatasync's wait is not CPU time, its system call is);
//	fg-ckpt/1k-commit foreground checkpoints (new journal epoch) and
//	bg-ckpt/1k-commit background checkpoints installed, per 1,000 commits;
//	max-µs, p99-µs    the slowest and the 99th percentile single commit.
//
// Run with a fixed count large enough to span compactions, e.g.
// -benchtime=5000x.
func BenchmarkCommitManyDevices(b *testing.B) {
	for _, n := range []int{100, 33000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			r := newStoreRig(b, 64<<20)
			provision(b, r.s.f)
			for id := 0; id < n; id++ {
				if err := r.m.createThin(uint32(id)); err != nil {
					b.Fatal(err)
				}
				if id%1000 == 999 {
					r.commit()
				}
			}
			r.commit()
			// Start from a fresh checkpoint and an empty journal, as after
			// a reopen, so that every run sees the same compaction cycle.
			if err := r.s.checkpoint(r.m, false); err != nil {
				b.Fatal(err)
			}
			next := uint32(n)
			lat := make([]time.Duration, 0, b.N)
			var fg, bg int
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := r.m.deleteThin(next - uint32(n)); err != nil {
					b.Fatal(err)
				}
				var err error
				if i%2 == 0 {
					err = r.m.createThin(next)
				} else {
					err = r.m.createSnap(next, next-1)
				}
				if err != nil {
					b.Fatal(err)
				}
				next++
				r.m.txn++
				r.m.logSetTxn(r.m.txn)
				epoch, ckpt := r.s.sb.epoch, r.s.sb.ckpt
				t0 := time.Now()
				r.commit()
				lat = append(lat, time.Since(t0))
				switch {
				case r.s.sb.epoch != epoch:
					fg++
				case r.s.sb.ckpt != ckpt:
					bg++
				}
			}
			b.StopTimer()
			cpu := cpuTime(b) - cpu0
			runtime.ReadMemStats(&ms1)
			slices.Sort(lat)
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N), "alloc-B/commit")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/commit")
			b.ReportMetric(float64(fg)*1000/float64(b.N), "fg-ckpt/1k-commit")
			b.ReportMetric(float64(bg)*1000/float64(b.N), "bg-ckpt/1k-commit")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// provision writes every block of the metadata file that is still a hole
// with zeros and syncs it, as a metadata device is a provisioned volume: on
// a sparse file the first write to each block makes the file system
// allocate it, which the next fdatasync pays for (the journal walks ~4,000
// blocks before it wraps, so a benchmark of a few thousand commits would
// mostly measure ext4's allocation).
func provision(b testing.TB, f *os.File) {
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	zero := make([]byte, 1<<20)
	for off := int64(0); off < st.Size(); off += int64(len(zero)) {
		hole, err := unix.Seek(int(f.Fd()), off, unix.SEEK_HOLE)
		if err != nil {
			b.Fatal(err)
		}
		if hole >= off+int64(len(zero)) {
			continue
		}
		if _, err := f.WriteAt(zero, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOpenFullJournal opens a store whose journal is as long as
// compaction lets it grow on a large metadata file (journalFloor records of
// the commit benchmark's shape after a checkpoint of n devices): the bound
// on replay time at activation. The page cache is warm (the records were
// just written); the records are one 4 KiB block each, read in chain order.
func BenchmarkOpenFullJournal(b *testing.B) {
	for _, n := range []int{100, 33000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			r := newStoreRig(b, 256<<20)
			for id := 0; id < n; id++ {
				if err := r.m.createThin(uint32(id)); err != nil {
					b.Fatal(err)
				}
			}
			if err := r.s.checkpoint(r.m, false); err != nil {
				b.Fatal(err)
			}
			r.m.committed()
			next := uint32(n)
			for len(r.s.jBlks) < journalFloor {
				if err := r.m.deleteThin(next - uint32(n)); err != nil {
					b.Fatal(err)
				}
				if err := r.m.createThin(next); err != nil {
					b.Fatal(err)
				}
				next++
				r.appendRecord()
			}
			records := next - uint32(n)
			r.s.close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s, m, err := openStore(r.path, false, false)
				if err != nil {
					b.Fatal(err)
				}
				if m.txn != r.m.txn {
					b.Fatalf("reopened at transaction %d, want %d", m.txn, r.m.txn)
				}
				s.close()
			}
			b.StopTimer()
			b.ReportMetric(float64(records), "records")
			r.s, _, _ = openStore(r.path, false, false)
		})
	}
}

// BenchmarkCheckpointEncode captures and encodes a pool of 33,000 devices
// that map nothing (the cluster bench's pools) with the store's reused
// encoder: the cost of one compaction's CPU and garbage.
func BenchmarkCheckpointEncode(b *testing.B) {
	m := newMeta(128, 65536)
	for id := range uint32(33000) {
		if err := m.createThin(id); err != nil {
			b.Fatal(err)
		}
	}
	var e ckptEncoder
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.capture(m)
		if p := e.encode(); len(p) == 0 {
			b.Fatal("empty payload")
		}
	}
}

// BenchmarkReserveMetadataSnap is reserve_metadata_snap and its release
// in a pool of 33,000 devices that map nothing, as the message handler does
// them after its commit: the held root named in the superblock (the
// current checkpoint and journal) and the in-memory pin of the held view,
// then the release. The agent's
// usage report takes one per pool every 30 s, on the pool's message path.
func BenchmarkReserveMetadataSnap(b *testing.B) {
	r := newStoreRig(b, 64<<20)
	provision(b, r.s.f)
	for id := range uint32(33000) {
		if err := r.m.createThin(id); err != nil {
			b.Fatal(err)
		}
	}
	r.commit()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.m.txn++
		r.m.logSetTxn(r.m.txn)
		r.commit()
		if err := r.s.hold(r.m); err != nil {
			b.Fatal(err)
		}
		r.m.heldRoot = r.s.sb.held
		r.m.pinHeld()
		if err := r.s.releaseHeld(); err != nil {
			b.Fatal(err)
		}
		r.m.heldRoot = 0
		r.m.unpinHeld()
	}
}

// BenchmarkHeldDump reads a held root of 33,000 devices as the agent's
// usage report does (dumpHeld: decode the held checkpoint, replay the held
// journal, build the dump), with journal records held: none, or the most a
// large file's journal reaches before compaction. It runs without the
// pool's lock.
func BenchmarkHeldDump(b *testing.B) {
	for _, records := range []int{0, journalFloor - 1} {
		b.Run(strconv.Itoa(records), func(b *testing.B) {
			r := newStoreRig(b, 64<<20)
			for id := range uint32(33000) {
				if err := r.m.createThin(id); err != nil {
					b.Fatal(err)
				}
			}
			if err := r.s.checkpoint(r.m, false); err != nil {
				b.Fatal(err)
			}
			r.m.committed()
			next := uint32(33000)
			for i := 0; i < records; i++ {
				if err := r.m.createThin(next); err != nil {
					b.Fatal(err)
				}
				next++
				r.appendRecord()
			}
			if err := r.s.holdCurrent(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := dumpHeld(r.path, r.s.sb)
				if err != nil {
					b.Fatal(err)
				}
				if len(d.Devices) != 33000+records {
					b.Fatalf("%d devices", len(d.Devices))
				}
			}
		})
	}
}
