package agent

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// TestRestartMidQueue: the agent dies at a protocol step of its second
// batch (the process stops there, and the node's devices are lost as in a
// reboot), then a new agent starts on the same files. The queue drains;
// every volume ends active with a distinct thin id, the kernel has exactly
// the record's thin ids and transaction id: nothing lost, nothing done
// twice.
func TestRestartMidQueue(t *testing.T) {
	for _, fp := range []thinpool.Failpoint{thinpool.FPBeforeMessage, thinpool.FPAfterMessage, thinpool.FPAfterSetTxn} {
		t.Run(string(fp), func(t *testing.T) {
			c := newTestCluster(t, 1)
			pool := c.addPool(0, "pool0", 64*mib, 16*mib)
			r := newAgentRig(t, c, 0, func(cfg *Config) { cfg.MaxBatch = 8 })
			// Queue everything before the agent starts, so the batches are
			// full and the failpoint hits the second one.
			var vols []string
			for i := 0; i < 20; i++ {
				vols = append(vols, c.createVolume(fmt.Sprintf("v%d", i), pool, 4*mib))
			}
			for i := 0; i < 5; i++ {
				vols = append(vols, c.snapshot(vols[i], fmt.Sprintf("s%d", i)))
			}
			var hits atomic.Int32
			r.fp.Arm(fp, func() error {
				if hits.Add(1) == 2 {
					r.stop() // the process dies here
					return errors.New("failpoint: agent killed")
				}
				return nil
			})
			r.start()
			select {
			case <-r.done:
			case <-time.After(20 * time.Second):
				t.Fatal("the failpoint was not reached")
			}
			r.stop = nil
			pending := len(c.fsms[0].PendingIntents(pool))
			if pending == 0 || pending == len(vols) {
				t.Fatalf("%d of %d intents pending at the crash: want a partly drained queue", pending, len(vols))
			}
			r.fp.Disarm(fp)
			r.crashEngine()
			r.start()
			r.waitDrained(pool, 20*time.Second)
			r.checkKernel(pool)
			seen := map[uint32]string{}
			for _, id := range vols {
				v, ok := c.fsms[0].Volume(id)
				if !ok || v.State != metadata.VolumeActive || v.ThinID == 0 {
					t.Fatalf("volume %s: %+v", id, v)
				}
				if o, dup := seen[v.ThinID]; dup {
					t.Fatalf("thin %d belongs to %s and %s", v.ThinID, o, v.Name)
				}
				seen[v.ThinID] = v.Name
			}
			var p metadata.Pool
			c.fsms[0].Read(func(v metadata.View) { p, _ = v.Pool(pool) })
			if p.TxnID != uint64(len(vols)) {
				t.Fatalf("pool txn %d, want %d", p.TxnID, len(vols))
			}
			t.Logf("%s: %d pending at the crash, drained after restart (pool txn %d, %d batches by the new agent)",
				fp, pending, p.TxnID, r.a.Stats().Batches)
		})
	}
}
