package agent

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// TestRefusedSnapshot: a snapshot that would take free data under the
// reserve of a pool that cannot grow is refused by thinpool before the
// kernel is touched and abandoned in the record with the reason; the
// snapshot volume is failed, the origin untouched, and the queue goes on.
func TestRefusedSnapshot(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "small", 16*mib, 4*mib)
	r := newAgentRig(t, c, 0, func(cfg *Config) {
		cfg.Storage = FileStorage{Dir: cfg.Storage.(FileStorage).Dir, MaxSize: 16 * mib}
		cfg.MonitorInterval = 50 * time.Millisecond
	})
	r.start()
	a := c.createVolume("a", pool, 32*mib)
	r.waitDrained(pool, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// 15 of 16 MiB: free data is 6%, under the 10% reserve.
	writeAt(t, r, ctx, a, bytes.Repeat([]byte{7}, 15*mib), 0)

	s := c.snapshot(a, "a-snap")
	other := c.createVolume("other", pool, 4*mib) // queued behind; refused as well (also needs the reserve)
	r.waitDrained(pool, 20*time.Second)
	vs, ok := c.fsms[0].Volume(s)
	if !ok || vs.State != metadata.VolumeFailed || vs.ThinID != 0 || !strings.Contains(vs.Reason, "reserve") {
		t.Fatalf("refused snapshot: %+v", vs)
	}
	for _, id := range []string{s, other} {
		v, _ := c.fsms[0].Volume(id)
		if v.State != metadata.VolumeFailed {
			t.Fatalf("volume %s: %s, want failed", v.Name, v.State)
		}
	}
	va, _ := c.fsms[0].Volume(a)
	if va.State != metadata.VolumeActive {
		t.Fatalf("origin: %+v", va)
	}
	r.checkKernel(pool)
	if st := r.waitStats(func(st Stats) bool { return st.Refused >= 2 }); st.Refused < 2 {
		t.Fatalf("stats %+v: want 2 refusals", st)
	}
	// The failed volumes are deleted through the queue too (no kernel
	// device: the delete is a record change or a no-op intent).
	c.do(metadata.CmdVolumeDelete, metadata.VolumeDelete{Volume: metadata.VolumeRef{UUID: s}})
	r.waitDrained(pool, 20*time.Second)
	r.checkKernel(pool)
}

// TestUsageAndGrowth: usage reports carry the pool's counts and each
// volume's exclusive/shared bytes; autoextend grows the data file past the
// threshold and the agent records the new size with pool_grow.
func TestUsageAndGrowth(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "grow", 16*mib, 4*mib)
	r := newAgentRig(t, c, 0, func(cfg *Config) { cfg.MonitorInterval = 50 * time.Millisecond })
	r.start()
	a := c.createVolume("a", pool, 64*mib)
	r.waitDrained(pool, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	writeAt(t, r, ctx, a, bytes.Repeat([]byte{1}, 12*mib), 0) // 75%: over the 70% threshold
	s := c.snapshot(a, "a-snap")
	r.waitDrained(pool, 20*time.Second)
	writeAt(t, r, ctx, a, bytes.Repeat([]byte{2}, 1*mib), 0) // 1 MiB of a diverges from s

	deadline := time.Now().Add(20 * time.Second)
	var p metadata.Pool
	for {
		r.a.ReportNow(ctx)
		c.fsms[0].Read(func(v metadata.View) { p, _ = v.Pool(pool) })
		if p.DataBytes > 16*mib || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.DataBytes <= 16*mib {
		t.Fatalf("pool data size still %d after autoextend", p.DataBytes)
	}
	if p.Usage.DataUsed != 13*mib/(64<<10) || p.Usage.DataTotal != p.DataBytes/(64<<10) || p.Usage.Mode != "rw" || p.Usage.ReportedAt.IsZero() {
		t.Fatalf("usage %+v (data bytes %d)", p.Usage, p.DataBytes)
	}
	va, _ := c.fsms[0].Volume(a)
	vs, _ := c.fsms[0].Volume(s)
	if va.ExclusiveBytes != 1*mib || va.SharedBytes != 11*mib || vs.ExclusiveBytes != 1*mib || vs.SharedBytes != 11*mib {
		t.Fatalf("volume usage: a excl %d shared %d, snap excl %d shared %d", va.ExclusiveBytes, va.SharedBytes, vs.ExclusiveBytes, vs.SharedBytes)
	}
}

// TestRecordedGrow: a pool_grow recorded by an operator grows the backing
// files and the pool sees the new size without a restart.
func TestRecordedGrow(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "pool0", 16*mib, 4*mib)
	r := newAgentRig(t, c, 0, nil)
	r.start()
	c.createVolume("a", pool, 4*mib)
	r.waitDrained(pool, 20*time.Second)
	c.do(metadata.CmdPoolGrow, metadata.PoolGrow{Pool: pool, DataBytes: 32 * mib, MetaBytes: 8 * mib})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if run := r.a.pool(pool); run != nil {
			if sp, err := run.pool.Space(ctx); err == nil && sp.DataTotal == 32*mib/(64<<10) && sp.MetaTotal == 8*mib/4096 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the pool did not grow to the recorded size")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b := c.createVolume("b", pool, 4*mib)
	r.waitDrained(pool, 20*time.Second)
	r.checkKernel(pool)
	if v, _ := c.fsms[0].Volume(b); v.State != metadata.VolumeActive {
		t.Fatalf("volume after growth: %+v", v)
	}
}

// TestBusyRefused: a delete of a volume open for IO, and a revert of one
// (two intents), are refused by thinpool (the device is busy), abandoned
// in the record, and leave the volume active on its device; once closed,
// both go through.
func TestBusyRefused(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "pool0", 64*mib, 16*mib)
	r := newAgentRig(t, c, 0, nil)
	r.start()
	a := c.createVolume("a", pool, 4*mib)
	s := c.snapshot(a, "a-snap")
	b := c.createVolume("b", pool, 4*mib)
	r.waitDrained(pool, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	devA, err := r.a.OpenVolume(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	devB, err := r.a.OpenVolume(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	va, _ := c.fsm().Volume(a)
	rev := c.do(metadata.CmdVolumeRevert, metadata.VolumeRevert{Volume: metadata.VolumeRef{UUID: a}, Snapshot: metadata.VolumeRef{UUID: s}})
	del := c.do(metadata.CmdVolumeDelete, metadata.VolumeDelete{Volume: metadata.VolumeRef{UUID: b}})
	r.waitDrained(pool, 20*time.Second)
	for _, id := range append(rev.Intents, del.Intents...) {
		in, _ := c.fsm().Intent(id)
		if in.State != metadata.IntentAbandoned || !strings.Contains(in.Reason, "in use") {
			t.Fatalf("intent %s: %s %q", id, in.State, in.Reason)
		}
	}
	if v, _ := c.fsm().Volume(a); v.State != metadata.VolumeActive || v.ThinID != va.ThinID {
		t.Fatalf("volume a after a refused revert: %+v (thin was %d)", v, va.ThinID)
	}
	if v, ok := c.fsm().Volume(b); !ok || v.State != metadata.VolumeActive {
		t.Fatalf("volume b after a refused delete: %+v", v)
	}
	r.checkKernel(pool)

	devA.Close()
	devB.Close()
	for _, id := range []string{a, b} {
		if err := r.a.CloseVolume(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	c.do(metadata.CmdVolumeRevert, metadata.VolumeRevert{Volume: metadata.VolumeRef{UUID: a}, Snapshot: metadata.VolumeRef{UUID: s}})
	c.do(metadata.CmdVolumeDelete, metadata.VolumeDelete{Volume: metadata.VolumeRef{UUID: b}})
	r.waitDrained(pool, 20*time.Second)
	r.checkKernel(pool)
	if v, _ := c.fsm().Volume(a); v.State != metadata.VolumeActive || v.ThinID == va.ThinID {
		t.Fatalf("volume a after the revert: %+v", v)
	}
	if _, ok := c.fsm().Volume(b); ok {
		t.Fatal("volume b still exists after its delete")
	}
}
