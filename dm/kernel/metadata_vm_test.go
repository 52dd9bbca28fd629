package kernel

import (
	"errors"
	"syscall"
	"testing"

	"github.com/thinraft/thinraft/dm"
)

// TestVMPoolMetadata reads a live pool's held metadata root through
// PoolMetadata and checks it against what was written: device ids, mapped
// block counts and the blocks an origin and its snapshot share.
func TestVMPoolMetadata(t *testing.T) {
	c := newControl(t)
	ctx := ctxT(t)
	p := newPool(t, c, 64<<20, 0, dm.PoolFeatures{})

	_, err := c.PoolMetadata(ctx, p.name, false)
	if err == nil || !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("live (snap=false) read: %v, want EOPNOTSUPP", err)
	}
	if _, err := c.PoolMetadata(ctx, p.name, true); !errors.Is(err, dm.ErrNoMetadataSnap) {
		t.Fatalf("read with no held root: %v, want ErrNoMetadataSnap", err)
	}
	if _, err := c.PoolMetadata(ctx, "kt-no-such-pool", true); !errors.Is(err, dm.ErrDeviceNotFound) {
		t.Fatalf("read of a missing pool: %v, want ErrDeviceNotFound", err)
	}

	p.msg(t, dm.CreateThinMsg(0))
	p.msg(t, dm.SetTransactionIDMsg(0, 1))
	thin0, bd := p.thin(t, "thin0", 0, 16<<20)
	// Blocks 0-3 and 10: five 64 KiB blocks.
	if _, err := bd.WriteAt(pattern(1, 256<<10), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := bd.WriteAt(pattern(2, 64<<10), 10*64<<10); err != nil {
		t.Fatal(err)
	}
	if err := bd.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.Suspend(ctx, thin0, dm.SuspendOptions{}); err != nil {
		t.Fatal(err)
	}
	p.msg(t, dm.CreateSnapMsg(1, 0))
	if err := c.Resume(ctx, thin0); err != nil {
		t.Fatal(err)
	}
	p.msg(t, dm.SetTransactionIDMsg(1, 2))
	// Break sharing of block 0 in the origin.
	if _, err := bd.WriteAt(pattern(3, 64<<10), 0); err != nil {
		t.Fatal(err)
	}
	if err := bd.Flush(); err != nil {
		t.Fatal(err)
	}
	p.msg(t, dm.MsgReserveMetadataSnap)
	d, err := c.PoolMetadata(ctx, p.name, true)
	if err != nil {
		t.Fatal(err)
	}
	p.msg(t, dm.MsgReleaseMetadataSnap)
	if d.Transaction != 2 || d.DataBlockSectors != testBlockSects || d.NrDataBlocks != uint64(p.dataBytes/p.blockBytes) || d.MetadataSnap != 0 {
		t.Errorf("superblock: txn %d, block %d, nr %d, snap %d", d.Transaction, d.DataBlockSectors, d.NrDataBlocks, d.MetadataSnap)
	}
	if len(d.Devices) != 2 || d.Devices[0].ID != 0 || d.Devices[1].ID != 1 {
		t.Fatalf("devices %+v, want ids 0 and 1", d.Devices)
	}
	blocks := func(dd dm.DeviceDump) map[uint64]uint64 {
		m := map[uint64]uint64{}
		for _, r := range dd.Mappings {
			for i := uint64(0); i < r.Length; i++ {
				m[r.OriginBlock+i] = r.DataBlock + i
			}
		}
		return m
	}
	o, s := blocks(d.Devices[0]), blocks(d.Devices[1])
	if len(o) != 5 || len(s) != 5 || d.Devices[0].MappedBlocks != 5 || d.Devices[1].MappedBlocks != 5 {
		t.Fatalf("mapped: origin %v (%d), snapshot %v (%d); want 5 each", o, d.Devices[0].MappedBlocks, s, d.Devices[1].MappedBlocks)
	}
	for vb, db := range o {
		if shared := s[vb] == db; shared == (vb == 0) {
			t.Errorf("virtual block %d: origin data block %d, snapshot %d (block 0 must differ, the rest be shared)", vb, db, s[vb])
		}
	}
}
