package report

import (
	"github.com/thinraft/thinraft/metadata"
)

// Hidden LV suffixes: a pool's data and metadata devices, which lvs -a
// lists as [pool_tdata] and [pool_tmeta].
const (
	HiddenData = "tdata"
	HiddenMeta = "tmeta"
)

// LVRow is one line of an lvs report: a thin volume or snapshot (Volume
// set), a thin pool (Volume nil, Hidden ""), or one of a pool's hidden
// LVs (Hidden set). BuildLVRows makes them from the model.
type LVRow struct {
	Pool   metadata.Pool
	Volume *metadata.Volume
	Hidden string
	// Node is the pool's node; nil means unknown, reported as up.
	Node *metadata.Node
	// OriginName is the origin volume's name ("" if none, or deleted).
	OriginName string
	// ActiveThins counts the pool's active thin volumes (a pool row shows
	// 'o', open, when there are any); ThinCount counts all of them.
	ActiveThins, ThinCount int
}

func (r *LVRow) nodeUp() bool { return r.Node == nil || r.Node.State == metadata.NodeUp }

// volumeActive: the volume's thin device is active on its node — it is
// wanted active and its create or revert has completed.
func (r *LVRow) volumeActive() bool {
	return r.Volume != nil && r.Volume.Active && r.Volume.State == metadata.VolumeActive && r.nodeUp()
}

func (r *LVRow) isPool() bool { return r.Volume == nil && r.Hidden == "" }

func (r *LVRow) name() cell {
	switch {
	case r.Volume != nil:
		return str(r.Volume.Name)
	case r.Hidden != "":
		n := r.Pool.Name + "_" + r.Hidden
		return cell{s: "[" + n + "]", sortKey: n}
	}
	return str(r.Pool.Name)
}

func (r *LVRow) size() uint64 {
	switch {
	case r.Volume != nil:
		return r.Volume.SizeBytes
	case r.Hidden == HiddenMeta:
		return r.Pool.MetaBytes
	}
	return r.Pool.DataBytes
}

func (r *LVRow) uuid() string {
	switch {
	case r.Volume != nil:
		return r.Volume.UUID
	case r.Hidden != "":
		return ""
	}
	return r.Pool.UUID
}

// dataPercent: a thin volume's mapped share of its size (mapped =
// exclusive + shared), a pool's used data blocks. Blank where LVM leaves
// it blank: hidden LVs, a volume with no thin device, a pool that has not
// reported usage yet.
func (r *LVRow) dataPercent() cell {
	switch {
	case r.Hidden != "":
		return undef
	case r.Volume != nil:
		if r.Volume.State == metadata.VolumeFailed || r.Volume.ThinID == 0 || !r.usageKnown() {
			return undef
		}
		return pct(r.Volume.ExclusiveBytes+r.Volume.SharedBytes, r.Volume.SizeBytes)
	}
	return pct(r.Pool.Usage.DataUsed, r.Pool.Usage.DataTotal)
}

func (r *LVRow) metaPercent() cell {
	if !r.isPool() {
		return undef
	}
	return pct(r.Pool.Usage.MetaUsed, r.Pool.Usage.MetaTotal)
}

func (r *LVRow) usageKnown() bool { return r.Pool.Usage.DataTotal > 0 }

func (r *LVRow) segtype() string {
	switch {
	case r.Volume != nil:
		return "thin"
	case r.Hidden != "":
		return "linear"
	}
	return "thin-pool"
}

func (r *LVRow) nodeName() string {
	if r.Node != nil && r.Node.Name != "" {
		return r.Node.Name
	}
	return r.Pool.Node
}

// thinOrPool returns a cell from get for pools and thin volumes, undefined
// for hidden LVs.
func (r *LVRow) thinOrPool(get func() cell) cell {
	if r.Hidden != "" {
		return undef
	}
	return get()
}

// lvFieldSet is the lvs fields: LVM's, with LVM's headings, then
// thinraft's own.
func lvFieldSet() *fieldSet[LVRow] {
	type R = LVRow
	return &fieldSet[LVRow]{
		kind:   KindLV,
		prefix: "lv_",
		defaults: []string{"lv_name", "vg_name", "lv_attr", "lv_size", "pool_lv", "origin", "data_percent",
			"metadata_percent", "move_pv", "mirror_log", "copy_percent", "convert_lv"},
		sort: []string{"vg_name", "lv_name"},
		fields: []fieldDef[R]{
			{id: "lv_uuid", heading: "LV UUID", width: 38, desc: "Unique identifier.",
				get: func(r *R) cell { return str(r.uuid()) }},
			{id: "lv_name", heading: "LV", width: 4, desc: "Name.  A pool's hidden LVs are enclosed in brackets.",
				get: func(r *R) cell { return r.name() }},
			{id: "lv_full_name", heading: "LV", width: 4, desc: "Full name of LV including its VG, namely VG/LV.",
				get: func(r *R) cell { c := r.name(); c.s = r.Pool.VG + "/" + c.s; return c }},
			{id: "vg_name", heading: "VG", desc: "Name of the LV's VG.",
				get: func(r *R) cell { return str(r.Pool.VG) }},
			{id: "lv_attr", heading: "Attr", desc: "Various attributes - see docs/reports.md.",
				get: func(r *R) cell { return str(lvAttr(r)) }},
			{id: "lv_active", heading: "Active", typ: tBinary, word: "active", desc: "Active state of the LV.",
				get: func(r *R) cell {
					switch {
					case !r.nodeUp():
						return undef
					case r.Volume != nil:
						return bin(r.volumeActive())
					}
					return bin(true)
				}},
			{id: "lv_skip_activation", heading: "SkipAct", width: 15, typ: tBinary, word: "skip activation",
				desc: "Set if LV is skipped on activation.",
				get:  func(r *R) cell { return bin(r.Volume != nil && r.Volume.ActivationSkip) }},
			{id: "lv_device_open", heading: "DevOpen", width: 10, typ: tBinary, word: "open",
				desc: "Set if LV device is open (an NBD client has the volume's export open).",
				get: func(r *R) cell {
					switch {
					case !r.nodeUp():
						return undef
					case r.Volume != nil:
						return bin(r.Volume.Open)
					case r.Hidden != "":
						return bin(true)
					}
					return bin(r.ActiveThins > 0)
				}},
			{id: "lv_permissions", heading: "LPerms", width: 8, desc: "LV permissions.",
				get: func(r *R) cell {
					if r.Volume != nil && r.Volume.ReadOnly {
						return str("read-only")
					}
					return str("writeable")
				}},
			{id: "lv_when_full", heading: "WhenFull", width: 15, desc: "For thin pools, behavior when full.",
				get: func(r *R) cell {
					switch {
					case !r.isPool():
						return str("")
					case r.Pool.ErrorIfNoSpace:
						return str("error")
					}
					return str("queue")
				}},
			{id: "lv_size", heading: "LSize", typ: tSize, desc: "Size of LV in current units.",
				get: func(r *R) cell { return size(r.size()) }},
			{id: "lv_metadata_size", heading: "MSize", typ: tSize,
				desc: "For thin pools, the size of the LV that holds the metadata.",
				get: func(r *R) cell {
					if !r.isPool() {
						return undef
					}
					return size(r.Pool.MetaBytes)
				}},
			{id: "seg_count", heading: "#Seg", typ: tNumber, desc: "Number of segments in LV.",
				get: func(r *R) cell { return num(1) }},
			{id: "origin", heading: "Origin", desc: "For thin snapshots, the origin device of this LV.",
				get: func(r *R) cell { return str(r.OriginName) }},
			{id: "origin_uuid", heading: "Origin UUID", width: 38, desc: "For thin snapshots, the UUID of the origin.",
				get: func(r *R) cell {
					if r.Volume == nil {
						return str("")
					}
					return str(r.Volume.Origin)
				}},
			{id: "data_percent", heading: "Data%", width: 6, typ: tPercent,
				desc: "For thin pools and volumes, the percentage full (a volume's mapped bytes over its size).",
				get:  func(r *R) cell { return r.dataPercent() }},
			{id: "metadata_percent", heading: "Meta%", width: 6, typ: tPercent,
				desc: "For thin pools, the percentage of metadata full.",
				get:  func(r *R) cell { return r.metaPercent() }},
			{id: "copy_percent", heading: "Cpy%Sync", typ: tPercent,
				desc: "For mirrors and pvmove, current percentage in-sync (always blank in thinraft).",
				get:  func(r *R) cell { return undef }},
			{id: "move_pv", heading: "Move", desc: "For pvmove, Source PV of temporary LV (always blank).",
				get: func(r *R) cell { return str("") }},
			{id: "mirror_log", heading: "Log", desc: "For mirrors, the LV holding the synchronisation log (always blank).",
				get: func(r *R) cell { return str("") }},
			{id: "convert_lv", heading: "Convert", desc: "For lvconvert, Name of temporary LV created by lvconvert (always blank).",
				get: func(r *R) cell { return str("") }},
			{id: "pool_lv", heading: "Pool", desc: "For thin volumes, the thin pool LV for this volume.",
				get: func(r *R) cell {
					if r.Volume == nil {
						return str("")
					}
					return str(r.Pool.Name)
				}},
			{id: "pool_lv_uuid", heading: "Pool UUID", width: 38, desc: "For thin volumes, the UUID of the thin pool LV.",
				get: func(r *R) cell {
					if r.Volume == nil {
						return str("")
					}
					return str(r.Pool.UUID)
				}},
			{id: "lv_tags", heading: "LV Tags", typ: tList, desc: "Tags, if any.",
				get: func(r *R) cell {
					if r.Volume == nil {
						return list(nil)
					}
					return list(r.Volume.Tags)
				}},
			{id: "lv_time", heading: "CTime", width: 26, typ: tTime, desc: "Creation time of the LV.",
				get: func(r *R) cell {
					if r.Volume != nil {
						return when(r.Volume.CreatedAt)
					}
					return when(r.Pool.CreatedAt)
				}},
			{id: "lv_health_status", heading: "Health", width: 15, desc: "LV health status.",
				get: func(r *R) cell { return healthStatus(r) }},
			{id: "lv_check_needed", heading: "CheckNeeded", width: 15, typ: tBinary, word: "check needed",
				desc: "For thin pools, whether a check/repair is needed (the pool is quarantined).",
				get: func(r *R) cell {
					if !r.isPool() {
						return undef
					}
					return bin(r.Pool.State == metadata.PoolQuarantined)
				}},
			{id: "segtype", heading: "Type", desc: "Type of LV segment.",
				get: func(r *R) cell { return str(r.segtype()) }},
			{id: "chunk_size", heading: "Chunk", typ: tSize, desc: "For thin pools, the pool's block (chunk) size.",
				get: func(r *R) cell {
					if !r.isPool() {
						return size(0)
					}
					return size(uint64(r.Pool.ChunkSectors) * 512)
				}},
			{id: "thin_count", heading: "#Thins", typ: tNumber, desc: "For thin pools, the number of thin volumes in this pool.",
				get: func(r *R) cell {
					if !r.isPool() {
						return undef
					}
					return num(uint64(r.ThinCount))
				}},
			{id: "discards", heading: "Discards", desc: "For thin pools and volumes, how discards are handled.",
				get: func(r *R) cell { return r.thinOrPool(func() cell { return str(r.Pool.Discards) }) }},
			{id: "zero", heading: "Zero", typ: tBinary, word: "zero", desc: "For thin pools and volumes, if zeroing is enabled.",
				get: func(r *R) cell { return r.thinOrPool(func() cell { return bin(r.Pool.Zero) }) }},
			{id: "transaction_id", heading: "TransId", typ: tNumber, desc: "For thin pools, the transaction id.",
				get: func(r *R) cell {
					if !r.isPool() {
						return undef
					}
					return num(r.Pool.TxnID)
				}},
			{id: "thin_id", heading: "ThId", typ: tNumber, desc: "For thin volume, the thin device id.",
				get: func(r *R) cell {
					if r.Volume == nil || r.Volume.ThinID == 0 {
						return undef
					}
					return num(uint64(r.Volume.ThinID))
				}},
			// thinraft's own fields.
			{id: "node", heading: "Node", desc: "thinraft: the node that holds the LV's pool.",
				get: func(r *R) cell { return str(r.nodeName()) }},
			{id: "exclusive_bytes", heading: "Excl", typ: tSize,
				desc: "thinraft: bytes mapped by this thin volume only (freed if it is removed).",
				get: func(r *R) cell {
					if r.Volume == nil {
						return undef
					}
					return size(r.Volume.ExclusiveBytes)
				}},
			{id: "shared_bytes", heading: "Shared", typ: tSize,
				desc: "thinraft: bytes this thin volume maps that other thin volumes map too.",
				get: func(r *R) cell {
					if r.Volume == nil {
						return undef
					}
					return size(r.Volume.SharedBytes)
				}},
			{id: "state", heading: "State", desc: "thinraft: the volume's or pool's replicated state (active, creating, quarantined...).",
				get: func(r *R) cell {
					switch {
					case r.Volume != nil:
						return str(string(r.Volume.State))
					case r.Hidden != "":
						return str("")
					}
					return str(string(r.Pool.State))
				}},
		},
	}
}
