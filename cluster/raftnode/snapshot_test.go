package raftnode

import (
	"slices"
	"testing"
	"time"
)

// TestPeriodicSnapshot: with a small threshold and interval every node
// takes snapshots by itself (no Snapshot() call) and truncates its log
// behind them, and a restarted node rebuilds its state from its latest
// snapshot plus the log after it.
func TestPeriodicSnapshot(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) {
		cfg.SnapshotThreshold = 32
		cfg.TrailingLogs = 8
		cfg.SnapshotInterval = 20 * time.Millisecond
	})
	ids := c.bootstrap(3)
	acked := seq("a", 0, 200)
	for _, cmd := range acked {
		c.apply(cmd)
	}
	c.converge(acked, ids...)
	for _, id := range ids {
		n := c.node(id)
		var first uint64
		var snaps int
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			metas, err := n.snaps.List()
			if err != nil {
				t.Fatal(err)
			}
			if first, err = n.store.FirstIndex(); err != nil {
				t.Fatal(err)
			}
			if snaps = len(metas); snaps > 0 && first > 1 {
				break
			}
		}
		if snaps == 0 || first <= 1 {
			t.Fatalf("%s: %d snapshots, log starts at %d: no periodic snapshot", id, snaps, first)
		}
	}
	id := ids[len(ids)-1]
	c.stop(id)
	c.start(id)
	if got := c.fsm(id).restores.Load(); got < 1 {
		t.Fatalf("restarted %s did not restore a snapshot (restores %d)", id, got)
	}
	c.converge(acked, id)
	c.leader()
	c.apply("z")
	c.converge(append(slices.Clone(acked), "z"), ids...)
}
