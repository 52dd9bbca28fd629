package metadata

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"
)

// opCycle is the control plane's unit of work as the agent sees it: a
// create, a snapshot of it, and one completion of both as a batch.
func opCycle(h *harness, pool string, i int) {
	v := h.uuid()
	h.ok(CmdVolumeCreate, VolumeCreate{UUID: v, VG: "vg0", Name: fmt.Sprintf("op-%d", i), Pool: pool, SizeBytes: 1 << 30})
	h.ok(CmdSnapshotCreate, SnapshotCreate{UUID: h.uuid(), Origin: VolumeRef{UUID: v}, Name: fmt.Sprintf("op-%d-snap", i)})
	h.completeAll(pool)
}

func poolOf(h *harness) string {
	var p string
	h.f.Read(func(v View) { p = v.PoolsOfNode("n1")[0].UUID })
	return p
}

// BenchmarkApply: the cost of a create+snapshot+completion cycle (three
// commands) at 100, 10,000 and 100,000 existing volumes. It must be flat.
func BenchmarkApply(b *testing.B) {
	for _, n := range []int{100, 10000, 100000} {
		b.Run(fmt.Sprintf("volumes=%d", n), func(b *testing.B) {
			h := bulk(b, n)
			pool := poolOf(h)
			i := 0
			for b.Loop() {
				opCycle(h, pool, i)
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(3*b.N), "ns/command")
		})
	}
}

func BenchmarkSnapshotRestore100k(b *testing.B) {
	h := bulk(b, 100000)
	var buf bytes.Buffer
	b.Run("copy", func(b *testing.B) {
		for b.Loop() {
			h.f.snapshot()
		}
	})
	b.Run("persist", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if _, err := h.f.snapshot().WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
	b.Run("restore", func(b *testing.B) {
		for b.Loop() {
			if err := New(Options{}).Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// bestCycle is the best per-cycle time over a few rounds (the minimum is
// the least noisy estimate of cost on a shared machine).
func bestCycle(h *harness, pool string, rounds, per int, start int) time.Duration {
	best := time.Duration(1 << 62)
	for r := range rounds {
		t0 := time.Now()
		for i := range per {
			opCycle(h, pool, start+r*per+i)
		}
		best = min(best, time.Since(t0)/time.Duration(per))
	}
	return best
}

// TestApplyCostFlat checks the performance contract: a command's cost does
// not grow with the number of volumes (100 vs 100,000, same work).
func TestApplyCostFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100,000 volumes")
	}
	small := bulk(t, 100)
	large := bulk(t, 100000)
	ps, pl := poolOf(small), poolOf(large)
	bestCycle(small, ps, 1, 500, 0) // warm up
	bestCycle(large, pl, 1, 500, 0)
	cs := bestCycle(small, ps, 5, 1000, 1000)
	cl := bestCycle(large, pl, 5, 1000, 1000)
	ratio := float64(cl) / float64(cs)
	t.Logf("create+snapshot+complete cycle: %v at 100 volumes, %v at 100,000 (ratio %.2f)", cs, cl, ratio)
	if ratio > 2 {
		t.Errorf("per-command cost grows with the model: ratio %.2f", ratio)
	}
}
