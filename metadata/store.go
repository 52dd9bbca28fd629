package metadata

import (
	"cmp"
	"slices"
)

// View is a consistent read-only view of the model, valid only inside the
// Read callback that received it. Everything it returns is a copy.
type View struct {
	st *state
}

// Read runs fn under the read lock: every call on the View sees the same
// applied index. Keep fn short; Apply waits for it.
func (f *FSM) Read(fn func(v View)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(View{st: f.st})
}

// Index is the Raft index of the last applied entry.
func (v View) Index() uint64 { return v.st.index }

// Node returns a node by id.
func (v View) Node(id string) (Node, bool) {
	n := v.st.nodes[id]
	if n == nil {
		return Node{}, false
	}
	return *n, true
}

// Nodes returns every node, by id.
func (v View) Nodes() []Node {
	out := make([]Node, 0, len(v.st.nodes))
	for _, n := range v.st.nodes {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// VG returns a VG by name.
func (v View) VG(name string) (VG, bool) {
	e := v.st.vgs[name]
	if e == nil {
		return VG{}, false
	}
	return e.vg.clone(), true
}

// VGs returns every VG, by name.
func (v View) VGs() []VG {
	out := make([]VG, 0, len(v.st.vgs))
	for _, e := range v.st.vgs {
		out = append(out, e.vg.clone())
	}
	slices.SortFunc(out, func(a, b VG) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// VolumeCount is the number of volumes and snapshots in a VG.
func (v View) VolumeCount(vg string) int {
	if e := v.st.vgs[vg]; e != nil {
		return e.volumes.len()
	}
	return 0
}

// Pool returns a pool by uuid.
func (v View) Pool(uuid string) (Pool, bool) {
	pe := v.st.pools[uuid]
	if pe == nil {
		return Pool{}, false
	}
	return pe.pool.clone(), true
}

// PoolByName returns a pool by VG and name.
func (v View) PoolByName(vg, name string) (Pool, bool) {
	pe, err := v.st.resolvePool(vg, name)
	if err != nil {
		return Pool{}, false
	}
	return pe.pool.clone(), true
}

func sortPools(ps []Pool) []Pool {
	slices.SortFunc(ps, func(a, b Pool) int { return cmp.Or(cmp.Compare(a.VG, b.VG), cmp.Compare(a.Name, b.Name)) })
	return ps
}

// PoolsOfNode returns the pools a node owns, by VG and name.
func (v View) PoolsOfNode(node string) []Pool {
	ids := v.st.nodePools[node]
	out := make([]Pool, 0, len(ids))
	for id := range ids {
		out = append(out, v.st.pools[id].pool.clone())
	}
	return sortPools(out)
}

// PoolsOfVG returns a VG's pools, by name.
func (v View) PoolsOfVG(vg string) []Pool {
	e := v.st.vgs[vg]
	if e == nil {
		return nil
	}
	out := make([]Pool, 0, len(e.pools))
	for id := range e.pools {
		out = append(out, v.st.pools[id].pool.clone())
	}
	return sortPools(out)
}

// Volume returns a volume by uuid.
func (v View) Volume(uuid string) (Volume, bool) {
	vol := v.st.volumes.get(uuid)
	if vol == nil {
		return Volume{}, false
	}
	return vol.clone(), true
}

// VolumeByName returns a volume by VG and name.
func (v View) VolumeByName(vg, name string) (Volume, bool) {
	vol, err := v.st.resolveVolume(VolumeRef{VG: vg, Name: name})
	if err != nil {
		return Volume{}, false
	}
	return vol.clone(), true
}

// ListVolumes returns up to limit volumes of a VG whose names sort after
// the cursor after ("" for the first page), by name, and the cursor of the
// next page ("" when this was the last). The cost is that of the page, not
// of the VG.
func (v View) ListVolumes(vg, after string, limit int) ([]Volume, string) {
	e := v.st.vgs[vg]
	if e == nil || limit <= 0 {
		return nil, ""
	}
	slots := e.volumes.after(after, limit+1)
	next := ""
	if len(slots) > limit {
		slots = slots[:limit]
		next = v.st.volumes.slot(slots[limit-1]).Name
	}
	out := make([]Volume, len(slots))
	for i, h := range slots {
		out[i] = v.st.volumes.slot(h).clone()
	}
	return out, next
}

// VolumesOfPool returns a pool's volumes by thin id (an agent's reconcile
// input); volumes without a thin device come first.
func (v View) VolumesOfPool(pool string) []Volume {
	pe := v.st.pools[pool]
	if pe == nil {
		return nil
	}
	out := make([]Volume, 0, len(pe.volumes))
	for _, h := range pe.volumes {
		out = append(out, v.st.volumes.slot(h).clone())
	}
	slices.SortFunc(out, func(a, b Volume) int { return cmp.Or(cmp.Compare(a.ThinID, b.ThinID), cmp.Compare(a.UUID, b.UUID)) })
	return out
}

// VolumeBrief is what an agent's periodic work reads of every volume of a
// pool: the thin id, the size, and the figures and open flag its usage
// reports set.
type VolumeBrief struct {
	UUID           string
	ThinID         uint32
	SizeBytes      uint64
	ExclusiveBytes uint64
	SharedBytes    uint64
	Open           bool
}

// VolumeBriefsOfPool returns a brief of every volume of a pool, in no
// particular order. It is VolumesOfPool for readers that visit every volume
// of a large pool (usage reports, reconcile): no copies of names, tags or
// timestamps and no sort, so the read lock it runs under, which holds up
// this replica's applies (and on the leader every command), is short.
func (v View) VolumeBriefsOfPool(pool string) []VolumeBrief {
	pe := v.st.pools[pool]
	if pe == nil {
		return nil
	}
	out := make([]VolumeBrief, 0, len(pe.volumes))
	for _, h := range pe.volumes {
		vol := v.st.volumes.slot(h)
		out = append(out, VolumeBrief{UUID: vol.UUID, ThinID: vol.ThinID, SizeBytes: vol.SizeBytes,
			ExclusiveBytes: vol.ExclusiveBytes, SharedBytes: vol.SharedBytes, Open: vol.Open})
	}
	return out
}

// PendingIntents returns a pool's pending intents in execution order.
func (v View) PendingIntents(pool string) []Intent {
	pe := v.st.pools[pool]
	if pe == nil {
		return nil
	}
	out := make([]Intent, len(pe.queue))
	for i, in := range pe.queue {
		out[i] = *in
	}
	return out
}

// Intent returns a pending intent, or a finished one still in the history.
func (v View) Intent(id string) (Intent, bool) {
	in := v.st.intents[id]
	if in == nil {
		return Intent{}, false
	}
	return *in, true
}

// Volume returns a volume by uuid (one read).
func (f *FSM) Volume(uuid string) (vol Volume, ok bool) {
	f.Read(func(v View) { vol, ok = v.Volume(uuid) })
	return
}

// VolumeByName returns a volume by VG and name (one read).
func (f *FSM) VolumeByName(vg, name string) (vol Volume, ok bool) {
	f.Read(func(v View) { vol, ok = v.VolumeByName(vg, name) })
	return
}

// ListVolumes is View.ListVolumes in one read.
func (f *FSM) ListVolumes(vg, after string, limit int) (vols []Volume, next string) {
	f.Read(func(v View) { vols, next = v.ListVolumes(vg, after, limit) })
	return
}

// PoolsOfNode is View.PoolsOfNode in one read.
func (f *FSM) PoolsOfNode(node string) (pools []Pool) {
	f.Read(func(v View) { pools = v.PoolsOfNode(node) })
	return
}

// PendingIntents is View.PendingIntents in one read.
func (f *FSM) PendingIntents(pool string) (ins []Intent) {
	f.Read(func(v View) { ins = v.PendingIntents(pool) })
	return
}

// Intent is View.Intent in one read.
func (f *FSM) Intent(id string) (in Intent, ok bool) {
	f.Read(func(v View) { in, ok = v.Intent(id) })
	return
}
