package emu

import (
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
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
			r := newStoreRig(b, 256<<20)
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
