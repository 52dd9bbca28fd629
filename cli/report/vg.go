package report

import "github.com/thinraft/thinraft/metadata"

// VGRow is one line of a vgs report: a VG with its pools, volumes and the
// nodes its pools live on. BuildVGRows makes them from the model.
type VGRow struct {
	VG      metadata.VG
	Pools   []metadata.Pool
	Volumes []metadata.Volume
	// Nodes are the distinct nodes holding the VG's pools (the VG's
	// "PVs").
	Nodes []metadata.Node
}

// poolUsedBytes is the data space a pool's blocks use, from its last
// usage report (never more than the data device).
func poolUsedBytes(p *metadata.Pool) uint64 {
	used := p.Usage.DataUsed * uint64(p.ChunkSectors) * 512
	return min(used, p.DataBytes)
}

// vgSize is the sum of the VG's pools' data devices: the space thin
// volumes can be given blocks from.
func (r *VGRow) size() uint64 {
	var n uint64
	for i := range r.Pools {
		n += r.Pools[i].DataBytes
	}
	return n
}

// free is the data space the VG's pools have not used yet.
func (r *VGRow) free() uint64 {
	var n uint64
	for i := range r.Pools {
		n += r.Pools[i].DataBytes - poolUsedBytes(&r.Pools[i])
	}
	return n
}

func (r *VGRow) snapshots() uint64 {
	var n uint64
	for i := range r.Volumes {
		if r.Volumes[i].IsSnapshot {
			n++
		}
	}
	return n
}

func vgFieldSet() *fieldSet[VGRow] {
	type R = VGRow
	return &fieldSet[VGRow]{
		kind:     KindVG,
		prefix:   "vg_",
		defaults: []string{"vg_name", "pv_count", "lv_count", "snap_count", "vg_attr", "vg_size", "vg_free"},
		sort:     []string{"vg_name"},
		fields: []fieldDef[R]{
			{id: "vg_fmt", heading: "Fmt", desc: "Type of metadata (thinraft: Raft-replicated).",
				get: func(r *R) cell { return str("thinraft") }},
			{id: "vg_uuid", heading: "VG UUID", width: 38, desc: "Unique identifier.",
				get: func(r *R) cell { return str(r.VG.UUID) }},
			{id: "vg_name", heading: "VG", desc: "Name.",
				get: func(r *R) cell { return str(r.VG.Name) }},
			{id: "vg_attr", heading: "Attr", width: 5, desc: "Various attributes - see docs/reports.md.",
				get: func(r *R) cell { return str(vgAttr(r)) }},
			{id: "vg_permissions", heading: "VPerms", width: 10, desc: "VG permissions.",
				get: func(r *R) cell { return str("writeable") }},
			{id: "vg_size", heading: "VSize", typ: tSize, desc: "Total size of VG in current units: the sum of its pools' data devices.",
				get: func(r *R) cell { return size(r.size()) }},
			{id: "vg_free", heading: "VFree", typ: tSize, desc: "Total amount of free space in current units: the pools' data space not used yet.",
				get: func(r *R) cell { return size(r.free()) }},
			{id: "max_lv", heading: "MaxLV", typ: tNumber, desc: "Maximum number of LVs allowed in VG or 0 if unlimited.",
				get: func(r *R) cell { return num(uint64(r.VG.MaxVolumes)) }},
			{id: "pv_count", heading: "#PV", typ: tNumber, desc: "Number of PVs in VG: the nodes holding its pools.",
				get: func(r *R) cell { return num(uint64(len(r.Nodes))) }},
			{id: "lv_count", heading: "#LV", typ: tNumber, desc: "Number of LVs: pools, thin volumes and thin snapshots.",
				get: func(r *R) cell { return num(uint64(len(r.Pools) + len(r.Volumes))) }},
			{id: "snap_count", heading: "#SN", typ: tNumber, desc: "Number of snapshots (thin snapshots in thinraft).",
				get: func(r *R) cell { return num(r.snapshots()) }},
			{id: "vg_tags", heading: "VG Tags", typ: tList, desc: "Tags, if any.",
				get: func(r *R) cell { return list(r.VG.Tags) }},
			{id: "pool_count", heading: "#Pools", typ: tNumber, desc: "thinraft: number of thin pools in the VG.",
				get: func(r *R) cell { return num(uint64(len(r.Pools))) }},
			{id: "vg_time", heading: "CTime", width: 26, typ: tTime, desc: "thinraft: creation time of the VG.",
				get: func(r *R) cell { return when(r.VG.CreatedAt) }},
		},
	}
}
