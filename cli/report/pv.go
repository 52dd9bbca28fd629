package report

import "github.com/thinraft/thinraft/metadata"

// PVRow is one line of a pvs report. thinraft's "physical volumes" are its
// nodes: one row per node and VG it holds pools of, and one row with no VG
// for a node that holds none (LVM's orphan PV). BuildPVRows makes them.
type PVRow struct {
	Node metadata.Node
	// VG is "" for a node with no pools.
	VG string
	// Pools are the node's pools in VG.
	Pools []metadata.Pool
}

// size is the node's pools' data and metadata devices in the VG: the
// space thinraft has taken on the node for it.
func (r *PVRow) size() uint64 {
	var n uint64
	for i := range r.Pools {
		n += r.Pools[i].DataBytes + r.Pools[i].MetaBytes
	}
	return n
}

// free is the data space of those pools not used yet.
func (r *PVRow) free() uint64 {
	var n uint64
	for i := range r.Pools {
		n += r.Pools[i].DataBytes - poolUsedBytes(&r.Pools[i])
	}
	return n
}

func (r *PVRow) name() string {
	if r.Node.Name != "" {
		return r.Node.Name
	}
	return r.Node.ID
}

func pvFieldSet() *fieldSet[PVRow] {
	type R = PVRow
	return &fieldSet[PVRow]{
		kind:     KindPV,
		prefix:   "pv_",
		defaults: []string{"pv_name", "vg_name", "pv_fmt", "pv_attr", "pv_size", "pv_free"},
		sort:     []string{"pv_name"},
		fields: []fieldDef[R]{
			{id: "pv_fmt", heading: "Fmt", desc: "Type of metadata (thinraft: Raft-replicated).",
				get: func(r *R) cell { return str("thinraft") }},
			{id: "pv_uuid", heading: "PV UUID", width: 38, desc: "Unique identifier: the node id.",
				get: func(r *R) cell { return str(r.Node.ID) }},
			{id: "pv_name", heading: "PV", width: 10, desc: "Name: the node's name.",
				get: func(r *R) cell { return str(r.name()) }},
			{id: "vg_name", heading: "VG", desc: "Name of the VG whose pools the node holds.",
				get: func(r *R) cell { return str(r.VG) }},
			{id: "pv_attr", heading: "Attr", desc: "Various attributes - see docs/reports.md.",
				get: func(r *R) cell { return str(pvAttr(r)) }},
			{id: "pv_size", heading: "PSize", typ: tSize, desc: "Size of PV: the node's pools' data and metadata devices in the VG.",
				get: func(r *R) cell { return size(r.size()) }},
			{id: "pv_free", heading: "PFree", typ: tSize, desc: "Unallocated space: the node's pools' data space not used yet.",
				get: func(r *R) cell { return size(r.free()) }},
			{id: "pv_used", heading: "Used", typ: tSize, desc: "Allocated space: the node's pools' used data space.",
				get: func(r *R) cell { return size(r.size() - r.free()) }},
			{id: "pv_missing", heading: "Missing", width: 10, typ: tBinary, word: "missing",
				desc: "Set if the node is not up.",
				get:  func(r *R) cell { return bin(r.Node.State != metadata.NodeUp) }},
			{id: "pv_in_use", heading: "PInUse", typ: tBinary, word: "used", desc: "Set if the node holds pools.",
				get: func(r *R) cell { return bin(len(r.Pools) > 0) }},
			{id: "pool_count", heading: "#Pools", typ: tNumber, desc: "thinraft: the node's pools in the VG.",
				get: func(r *R) cell { return num(uint64(len(r.Pools))) }},
			{id: "node_id", heading: "Node ID", desc: "thinraft: the node's id.",
				get: func(r *R) cell { return str(r.Node.ID) }},
			{id: "node_state", heading: "State", desc: "thinraft: the node's membership state (up, down, left).",
				get: func(r *R) cell { return str(string(r.Node.State)) }},
			{id: "node_voter", heading: "Voter", typ: tBinary, word: "voter", desc: "thinraft: set if the node votes in Raft.",
				get: func(r *R) cell { return bin(r.Node.Voter) }},
			{id: "node_raft_addr", heading: "Raft", desc: "thinraft: the node's Raft address.",
				get: func(r *R) cell { return str(r.Node.Addr) }},
			{id: "node_api_addr", heading: "API", desc: "thinraft: the node's HTTP API address.",
				get: func(r *R) cell { return str(r.Node.APIAddr) }},
			{id: "node_nbd_addr", heading: "NBD", desc: "thinraft: where NBD clients reach the node's exports.",
				get: func(r *R) cell { return str(r.Node.NBDAddr) }},
			{id: "node_joined", heading: "Joined", width: 26, typ: tTime, desc: "thinraft: when the node joined.",
				get: func(r *R) cell { return when(r.Node.JoinedAt) }},
		},
	}
}
