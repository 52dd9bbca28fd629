package agent

import (
	"context"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// TestQuarantine: a thin device appears in the kernel that the record
// never had (someone else's create_thin). The periodic reconcile
// quarantines the pool and reports it once with pool_quarantine; the
// record then refuses new volumes there. After the operator removes the
// stray device and lifts the quarantine, the agent reconciles again and
// executes new intents.
func TestQuarantine(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "pool0", 64*mib, 16*mib)
	r := newAgentRig(t, c, 0, func(cfg *Config) { cfg.ReconcileInterval = 50 * time.Millisecond })
	r.start()
	c.createVolume("a", pool, 4*mib)
	r.waitDrained(pool, 20*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dmName := thinpool.DMPrefix + pool
	if _, err := r.eng.Message(ctx, dmName, 0, dm.CreateThinMsg(999)); err != nil {
		t.Fatal(err)
	}
	p := waitPool(t, c, pool, func(p metadata.Pool) bool { return p.State == metadata.PoolQuarantined })
	if len(p.Findings) != 1 || p.Findings[0].Kind != string(thinpool.FindingUnknownThin) || p.Findings[0].ThinID != 999 {
		t.Fatalf("findings %+v", p.Findings)
	}
	// Later reconciles find the same thing and do not report it again.
	time.Sleep(300 * time.Millisecond)
	if p := waitPool(t, c, pool, func(metadata.Pool) bool { return true }); len(p.Findings) != 1 {
		t.Fatalf("finding reported %d times", len(p.Findings))
	}
	res, err := propose(ctx, c.fsms[0], c, time.Now(), metadata.CmdVolumeCreate,
		metadata.VolumeCreate{UUID: newUUID(t), VG: testVG, Name: "b", Pool: pool, SizeBytes: 4 * mib})
	if metadata.CodeOf(err) != metadata.CodeConflict {
		t.Fatalf("create in a quarantined pool: %+v, %v", res, err)
	}

	// The operator's repair.
	if _, err := r.eng.Message(ctx, dmName, 0, dm.DeleteMsg(999)); err != nil {
		t.Fatal(err)
	}
	c.do(metadata.CmdPoolUnquarantine, metadata.PoolUnquarantine{Pool: pool})
	b := c.createVolume("b", pool, 4*mib)
	r.waitDrained(pool, 20*time.Second)
	if v, _ := c.fsms[0].Volume(b); v.State != metadata.VolumeActive {
		t.Fatalf("volume after unquarantine: %+v", v)
	}
	r.checkKernel(pool)
	if p := waitPool(t, c, pool, func(metadata.Pool) bool { return true }); p.State != metadata.PoolActive {
		t.Fatalf("pool %s after repair", p.State)
	}
}

func waitPool(t *testing.T, c *testCluster, pool string, cond func(metadata.Pool) bool) metadata.Pool {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var p metadata.Pool
		c.fsms[0].Read(func(v metadata.View) { p, _ = v.Pool(pool) })
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool %s: condition not reached: %+v", pool, p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
