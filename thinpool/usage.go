package thinpool

import (
	"context"
	"sort"

	"github.com/thinraft/thinraft/dm"
)

// VolumeUsage is one thin device's space with thin_ls semantics, in pool
// blocks: Mapped = Exclusive + Shared, where Exclusive blocks are mapped by
// no other device in the pool and Shared blocks are mapped by at least one
// other (a snapshot, an origin, a sibling).
type VolumeUsage struct {
	ThinID    uint32
	Mapped    uint64
	Exclusive uint64
	Shared    uint64
}

// Usage is a pool's space as of one held metadata root.
type Usage struct {
	// BlockSize is the pool's data block size in bytes.
	BlockSize uint64
	// Transaction is the pool's transaction id in the snapshot.
	Transaction uint64
	Volumes     []VolumeUsage // by thin id
	// UsedBlocks counts distinct data blocks mapped by any device.
	UsedBlocks uint64
}

// ComputeUsage derives per-device mapped/exclusive/shared counts from a
// metadata dump: a data block referenced by exactly one mapping is
// exclusive to its device.
func ComputeUsage(d *dm.MetadataDump) Usage {
	refs := map[uint64]uint32{}
	for _, dev := range d.Devices {
		for _, m := range dev.Mappings {
			for i := uint64(0); i < m.Length; i++ {
				refs[m.DataBlock+i]++
			}
		}
	}
	u := Usage{BlockSize: uint64(d.DataBlockSectors) * dm.SectorSize, Transaction: d.Transaction, UsedBlocks: uint64(len(refs))}
	for _, dev := range d.Devices {
		v := VolumeUsage{ThinID: dev.ID}
		for _, m := range dev.Mappings {
			v.Mapped += m.Length
			for i := uint64(0); i < m.Length; i++ {
				if refs[m.DataBlock+i] == 1 {
					v.Exclusive++
				}
			}
		}
		v.Shared = v.Mapped - v.Exclusive
		u.Volumes = append(u.Volumes, v)
	}
	sort.Slice(u.Volumes, func(i, j int) bool { return u.Volumes[i].ThinID < u.Volumes[j].ThinID })
	return u
}

// Usage reads the pool's per-volume usage from a fresh held metadata root.
func (p *Pool) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	err := p.withMetadata(ctx, true, func(d *dm.MetadataDump) error {
		u = ComputeUsage(d)
		return nil
	})
	return u, err
}
