package report

import (
	"slices"

	"github.com/thinraft/thinraft/metadata"
)

// BuildLVRows makes the lvs rows of a model: every pool, then (with
// hidden) its [pool_tdata] and [pool_tmeta], and every volume with its
// pool, node and origin resolved. Callers filter the rows by name.
func BuildLVRows(pools []metadata.Pool, vols []metadata.Volume, nodes []metadata.Node, hidden bool) []LVRow {
	nodeByID := map[string]*metadata.Node{}
	for i := range nodes {
		nodeByID[nodes[i].ID] = &nodes[i]
	}
	poolByUUID := map[string]*metadata.Pool{}
	for i := range pools {
		poolByUUID[pools[i].UUID] = &pools[i]
	}
	nameByUUID := map[string]string{}
	active := map[string]int{}
	count := map[string]int{}
	for i := range vols {
		v := &vols[i]
		nameByUUID[v.UUID] = v.Name
		count[v.Pool]++
		if v.Active && v.State == metadata.VolumeActive {
			active[v.Pool]++
		}
	}
	var rows []LVRow
	for i := range pools {
		p := pools[i]
		row := LVRow{Pool: p, Node: nodeByID[p.Node], ActiveThins: active[p.UUID], ThinCount: count[p.UUID]}
		rows = append(rows, row)
		if hidden {
			for _, h := range []string{HiddenData, HiddenMeta} {
				hr := row
				hr.Hidden = h
				rows = append(rows, hr)
			}
		}
	}
	for i := range vols {
		v := &vols[i]
		p := metadata.Pool{VG: v.VG}
		if pp := poolByUUID[v.Pool]; pp != nil {
			p = *pp
		}
		rows = append(rows, LVRow{Pool: p, Volume: v, Node: nodeByID[p.Node], OriginName: nameByUUID[v.Origin]})
	}
	return rows
}

// BuildVGRows makes the vgs rows of a model: each VG with its pools,
// volumes and the nodes holding its pools.
func BuildVGRows(vgs []metadata.VG, pools []metadata.Pool, vols []metadata.Volume, nodes []metadata.Node) []VGRow {
	rows := make([]VGRow, 0, len(vgs))
	for _, vg := range vgs {
		r := VGRow{VG: vg}
		var nodeIDs []string
		for _, p := range pools {
			if p.VG == vg.Name {
				r.Pools = append(r.Pools, p)
				if !slices.Contains(nodeIDs, p.Node) {
					nodeIDs = append(nodeIDs, p.Node)
				}
			}
		}
		for _, v := range vols {
			if v.VG == vg.Name {
				r.Volumes = append(r.Volumes, v)
			}
		}
		for _, id := range nodeIDs {
			n := metadata.Node{ID: id, State: metadata.NodeUp}
			if i := slices.IndexFunc(nodes, func(n metadata.Node) bool { return n.ID == id }); i >= 0 {
				n = nodes[i]
			}
			r.Nodes = append(r.Nodes, n)
		}
		rows = append(rows, r)
	}
	return rows
}

// BuildPVRows makes the pvs rows: one per node and VG it holds pools of,
// one with no VG for a node that holds none.
func BuildPVRows(nodes []metadata.Node, pools []metadata.Pool) []PVRow {
	var rows []PVRow
	for _, n := range nodes {
		var vgs []string
		byVG := map[string][]metadata.Pool{}
		for _, p := range pools {
			if p.Node != n.ID {
				continue
			}
			if _, ok := byVG[p.VG]; !ok {
				vgs = append(vgs, p.VG)
			}
			byVG[p.VG] = append(byVG[p.VG], p)
		}
		if len(vgs) == 0 {
			rows = append(rows, PVRow{Node: n})
			continue
		}
		slices.Sort(vgs)
		for _, vg := range vgs {
			rows = append(rows, PVRow{Node: n, VG: vg, Pools: byVG[vg]})
		}
	}
	return rows
}
