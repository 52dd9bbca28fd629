package agent

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// TestLifecycle: volumes, snapshots, a delete and a revert go through Raft,
// the agent executes them, and the kernel's thin ids and transaction id
// equal the record's after every step. Data written through the device
// survives a revert to the snapshot taken before it was overwritten.
func TestLifecycle(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "pool0", 64*mib, 16*mib)
	r := newAgentRig(t, c, 0, nil)
	r.start()

	a := c.createVolume("a", pool, 8*mib)
	b := c.createVolume("b", pool, 4*mib)
	r.waitDrained(pool, 20*time.Second)
	r.checkKernel(pool)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := bytes.Repeat([]byte{0xA1}, 64<<10)
	writeAt(t, r, ctx, a, first, 0)

	s := c.snapshot(a, "a-snap")
	r.waitDrained(pool, 20*time.Second)
	r.checkKernel(pool)
	vs, _ := c.fsms[0].Volume(s)
	if vs.State != metadata.VolumeActive || vs.ThinID == 0 {
		t.Fatalf("snapshot %+v", vs)
	}

	writeAt(t, r, ctx, a, bytes.Repeat([]byte{0xB2}, 64<<10), 0)
	if err := r.a.CloseVolume(ctx, a); err != nil {
		t.Fatal(err)
	}
	before, _ := c.fsms[0].Volume(a)
	c.do(metadata.CmdVolumeRevert, metadata.VolumeRevert{Volume: metadata.VolumeRef{UUID: a}, Snapshot: metadata.VolumeRef{UUID: s}})
	r.waitDrained(pool, 20*time.Second)
	r.checkKernel(pool)
	after, _ := c.fsms[0].Volume(a)
	if after.State != metadata.VolumeActive || after.ThinID == before.ThinID || after.ThinID == 0 {
		t.Fatalf("after revert: %+v (before thin %d)", after, before.ThinID)
	}
	if got := readAt(t, r, ctx, a, len(first), 0); !bytes.Equal(got, first) {
		t.Fatalf("after revert the volume reads %x..., want the snapshot's %x...", got[:4], first[:4])
	}
	if err := r.a.CloseVolume(ctx, a); err != nil {
		t.Fatal(err)
	}

	c.do(metadata.CmdVolumeDelete, metadata.VolumeDelete{Volume: metadata.VolumeRef{UUID: b}})
	r.waitDrained(pool, 20*time.Second)
	r.checkKernel(pool)
	if _, ok := c.fsms[0].Volume(b); ok {
		t.Fatal("deleted volume still in the record")
	}
	var p metadata.Pool
	c.fsms[0].Read(func(v metadata.View) { p, _ = v.Pool(pool) })
	// a, b, snapshot, revert (2), delete: six kernel transactions.
	if p.TxnID != 6 {
		t.Fatalf("pool txn %d, want 6", p.TxnID)
	}
	if st := r.waitStats(func(st Stats) bool { return st.Intents >= 6 }); st.Intents != 6 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func writeAt(t *testing.T, r *agentRig, ctx context.Context, vol string, b []byte, off int64) {
	t.Helper()
	dev, err := r.a.OpenVolume(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if _, err := dev.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
}

func readAt(t *testing.T, r *agentRig, ctx context.Context, vol string, n int, off int64) []byte {
	t.Helper()
	dev, err := r.a.OpenVolume(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	b := make([]byte, n)
	if _, err := dev.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExtendActive: volume_extend changes the record only; the agent
// reloads the table of a device it activated for IO, so the new end of
// the volume is writable without reactivation.
func TestExtendActive(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "pool0", 64*mib, 16*mib)
	r := newAgentRig(t, c, 0, nil)
	r.start()
	a := c.createVolume("a", pool, 4*mib)
	r.waitDrained(pool, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dev, err := r.a.OpenVolume(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if dev.Size() != 4*mib {
		t.Fatalf("size %d", dev.Size())
	}
	c.do(metadata.CmdVolumeExtend, metadata.VolumeExtend{Volume: metadata.VolumeRef{UUID: a}, SizeBytes: 8 * mib})
	deadline := time.Now().Add(20 * time.Second)
	for {
		d2, err := r.a.OpenVolume(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		size := d2.Size()
		d2.Close()
		if size == 8*mib {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device size still %d after volume_extend to %d", size, 8*mib)
		}
		time.Sleep(10 * time.Millisecond)
	}
	writeAt(t, r, ctx, a, bytes.Repeat([]byte{9}, 4096), 7*mib)
	if got := readAt(t, r, ctx, a, 4096, 7*mib); !bytes.Equal(got, bytes.Repeat([]byte{9}, 4096)) {
		t.Fatal("the extended end does not read back")
	}
}
