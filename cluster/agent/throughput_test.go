package agent

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// TestThroughput: 1000 creates and 1000 snapshots of them, proposed in
// bursts while the agent runs, drain in batches (one kernel transaction
// and one completion command each). It logs the batch sizes and ops/s and
// checks the kernel against the record.
func TestThroughput(t *testing.T) {
	const n = 1000
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "pool0", 256*mib, 64*mib)
	var mu sync.Mutex
	var sizes []int
	r := newAgentRig(t, c, 0, func(cfg *Config) {
		cfg.OnBatch = func(_ string, k int, _ time.Duration) {
			mu.Lock()
			sizes = append(sizes, k)
			mu.Unlock()
		}
	})
	r.start()
	start := time.Now()
	creates := make([]any, n)
	uuids := make([]string, n)
	for i := range creates {
		uuids[i] = newUUID(t)
		creates[i] = metadata.VolumeCreate{UUID: uuids[i], VG: testVG, Name: fmt.Sprintf("v%04d", i), Pool: pool, SizeBytes: 4 * mib}
	}
	snaps := make([]any, n)
	for i := range snaps {
		snaps[i] = metadata.SnapshotCreate{UUID: newUUID(t), Origin: metadata.VolumeRef{UUID: uuids[i]}, Name: fmt.Sprintf("s%04d", i)}
	}
	for i := 0; i < n; i += 250 {
		c.doBatch(metadata.CmdVolumeCreate, creates[i:i+250])
		c.doBatch(metadata.CmdSnapshotCreate, snaps[i:i+250])
	}
	proposed := time.Since(start)
	r.waitDrained(pool, 120*time.Second)
	took := time.Since(start)
	r.checkKernel(pool)
	var p metadata.Pool
	c.fsms[0].Read(func(v metadata.View) { p, _ = v.Pool(pool) })
	if p.TxnID != 2*n {
		t.Fatalf("pool txn %d, want %d", p.TxnID, 2*n)
	}
	r.waitStats(func(st Stats) bool { return st.Intents >= 2*n })
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, k := range sizes {
		total += k
	}
	if total != 2*n {
		t.Fatalf("batches executed %d intents, want %d", total, 2*n)
	}
	if len(sizes) >= 2*n {
		t.Fatalf("%d batches for %d intents: nothing was batched", len(sizes), 2*n)
	}
	t.Logf("%d intents in %d batches (sizes %v); proposed in %v, drained in %v: %.0f ops/s",
		2*n, len(sizes), sizes, proposed.Round(time.Millisecond), took.Round(time.Millisecond), float64(2*n)/took.Seconds())
}
