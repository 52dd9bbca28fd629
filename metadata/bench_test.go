package metadata

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
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

// TestApplyCostFlat checks the performance contract without a clock: a
// create+snapshot+completion cycle allocates the same at 100,000 volumes as
// at 100 (no copy, rebuild or rescan of the model per command).
// BenchmarkApply measures the time.
func TestApplyCostFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100,000 volumes")
	}
	small := bulk(t, 100)
	large := bulk(t, 100000)
	ps, pl := poolOf(small), poolOf(large)
	i := 0
	as := testing.AllocsPerRun(300, func() { opCycle(small, ps, i); i++ })
	al := testing.AllocsPerRun(300, func() { opCycle(large, pl, i); i++ })
	t.Logf("allocations per create+snapshot+complete cycle: %.1f at 100 volumes, %.1f at 100,000", as, al)
	if al > as*1.05+5 {
		t.Errorf("per-command work grows with the model: %.1f allocations per cycle at 100,000 volumes, %.1f at 100", al, as)
	}
}

// keyedBulk builds an FSM as a cluster node holds it after a bulk load of
// n volumes through the API: every create keyed (so remembered by the
// request table, whose window covers the whole load), spread over three
// pools on three nodes, completed in batches.
func keyedBulk(b *testing.B, n int) *FSM {
	h := newHarness(b)
	pools := []string{h.basic()}
	for i := 2; i <= 3; i++ {
		node := fmt.Sprintf("n%d", i)
		h.ok(CmdNodeJoin, NodeJoin{ID: node, Addr: "127.0.0.1:700" + node[1:], APIAddr: "127.0.0.1:800" + node[1:], Voter: true})
		p := h.uuid()
		h.ok(CmdPoolAdd, PoolAdd{UUID: p, VG: "vg0", Name: "pool-" + node, Node: node, ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 64 << 20})
		pools = append(pools, p)
	}
	f, idx, at := h.f, h.index, h.now
	apply := func(key string, typ CommandType, payload any) {
		at = at.Add(200 * time.Microsecond) // 5,000 commands/s: all inside the request window
		data, err := EncodeRequest(typ, at, key, payload)
		if err != nil {
			b.Fatal(err)
		}
		idx++
		if r := f.ApplyCommand(idx, data); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	for i := range n {
		apply(fmt.Sprintf("bulk-%08d", i), CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: fmt.Sprintf("vol-%07d", i), Pool: pools[i%3], SizeBytes: 1 << 30})
		if i%300 == 299 || i == n-1 {
			for _, p := range pools {
				q := f.PendingIntents(p)
				ids := make([]string, len(q))
				for j, in := range q {
					ids[j] = in.ID
				}
				if len(ids) > 0 {
					apply(fmt.Sprintf("done-%d-%s", i, p), CmdIntentComplete, IntentComplete{Pool: p, FromTxn: q[0].FromTxn, Intents: ids})
				}
			}
		}
	}
	return f
}

// BenchmarkHeapMark100k: what the record costs the garbage collector at
// 100,000 keyed volumes, per full collection (every cycle marks all of
// it; on the cluster bench's two shared cores a node's cycle is the
// open loop's tail at this level, docs/bench-cluster.md). Run it with
// GOMAXPROCS=1 to compare builds: the collection then marks on one core.
func BenchmarkHeapMark100k(b *testing.B) {
	f := keyedBulk(b, 100000)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for b.Loop() {
		runtime.GC()
	}
	b.ReportMetric(float64(ms.HeapObjects), "heap-objects")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	runtime.KeepAlive(f)
}
