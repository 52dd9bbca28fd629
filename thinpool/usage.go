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
// exclusive to its device. It works on runs, not blocks (a sweep over the
// runs' ends gives each stretch of data blocks its reference count), so a
// pool of many terabytes costs memory in proportion to its mapping runs.
func ComputeUsage(d *dm.MetadataDump) Usage {
	segs := refSegments(d)
	u := Usage{BlockSize: uint64(d.DataBlockSectors) * dm.SectorSize, Transaction: d.Transaction,
		Volumes: make([]VolumeUsage, 0, len(d.Devices))}
	for _, s := range segs {
		u.UsedBlocks += s.end - s.begin
	}
	for _, dev := range d.Devices {
		v := VolumeUsage{ThinID: dev.ID}
		for _, m := range dev.Mappings {
			v.Mapped += m.Length
			v.Exclusive += exclusiveIn(segs, m.DataBlock, m.DataBlock+m.Length)
		}
		v.Shared = v.Mapped - v.Exclusive
		u.Volumes = append(u.Volumes, v)
	}
	sort.Slice(u.Volumes, func(i, j int) bool { return u.Volumes[i].ThinID < u.Volumes[j].ThinID })
	return u
}

// refSegment is a stretch [begin, end) of data blocks all referenced by refs
// mappings (refs > 0).
type refSegment struct {
	begin, end uint64
	refs       int
}

// refSegments sweeps the starts and ends of every mapping run in d and
// returns the referenced stretches of data blocks, sorted and disjoint.
func refSegments(d *dm.MetadataDump) []refSegment {
	type edge struct {
		at    uint64
		delta int
	}
	var edges []edge
	for _, dev := range d.Devices {
		for _, m := range dev.Mappings {
			if m.Length > 0 {
				edges = append(edges, edge{m.DataBlock, 1}, edge{m.DataBlock + m.Length, -1})
			}
		}
	}
	sort.Slice(edges, func(i, j int) bool { return edges[i].at < edges[j].at })
	var segs []refSegment
	refs := 0
	for i := 0; i < len(edges); {
		at := edges[i].at
		for ; i < len(edges) && edges[i].at == at; i++ {
			refs += edges[i].delta
		}
		if n := len(segs); n > 0 && segs[n-1].end == 0 {
			segs[n-1].end = at // close the open segment
			if segs[n-1].begin == at {
				segs = segs[:n-1]
			}
		}
		if refs > 0 && i < len(edges) {
			segs = append(segs, refSegment{begin: at, refs: refs})
		}
	}
	return segs
}

// exclusiveIn counts the blocks of [begin, end) referenced exactly once.
func exclusiveIn(segs []refSegment, begin, end uint64) uint64 {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].end > begin })
	var n uint64
	for ; i < len(segs) && segs[i].begin < end; i++ {
		if segs[i].refs == 1 {
			n += min(end, segs[i].end) - max(begin, segs[i].begin)
		}
	}
	return n
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
