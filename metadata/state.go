package metadata

import (
	"fmt"
	"time"
)

// DefaultIntentHistory is how many finished intents the state keeps for
// polling by id (the operation ids the API hands out) and for recognising an
// agent's repeated completion. Pending intents are never dropped.
const DefaultIntentHistory = 10000

// state is the replicated model plus the indexes that keep every command's
// cost independent of the number of volumes. Only the FSM's apply goroutine
// mutates it, under the FSM's write lock.
type state struct {
	// index is the Raft index of the last applied entry.
	index uint64

	nodes     map[string]*Node
	nodeNames map[string]string              // node name -> id
	nodePools map[string]map[string]struct{} // node id -> pool uuids

	vgs     map[string]*vgEntry
	vgUUIDs map[string]string // vg uuid -> name
	pools   map[string]*poolEntry
	volumes volumeTable

	// intents holds every pending intent and the newest finished ones.
	intents map[string]*Intent
	// finished lists retained finished intent ids, oldest first.
	finished   []string
	historyCap int

	// requests remembers successful keyed commands (requests.go).
	requests      requestTable
	requestWindow time.Duration
	requestCap    int
}

// vgEntry is a VG with its namespace. Pools and volumes share the names.
type vgEntry struct {
	vg      *VG
	names   nameIndex
	volumes nameSet // volumes ordered by name, for listing
	pools   map[string]struct{}
}

// poolEntry is a pool with its thin ids and its queue of pending intents.
type poolEntry struct {
	pool *Pool
	// thins maps every thin id in use or reserved by a pending intent to its
	// volume's uuid.
	thins map[uint32]uuidKey
	// volumes maps the pool's volumes to their slots in the volume table,
	// so that visiting all of them (usage reports, reconcile) costs no
	// lookup by uuid.
	volumes map[uuidKey]int32
	// queue is the pool's pending intents in execution order; queue[i]
	// has FromTxn = pool.TxnID + i.
	queue []*Intent
}

func newState(historyCap int) *state {
	if historyCap <= 0 {
		historyCap = DefaultIntentHistory
	}
	return &state{
		nodes:      map[string]*Node{},
		nodeNames:  map[string]string{},
		nodePools:  map[string]map[string]struct{}{},
		vgs:        map[string]*vgEntry{},
		vgUUIDs:    map[string]string{},
		pools:      map[string]*poolEntry{},
		volumes:    newVolumeTable(),
		intents:    map[string]*Intent{},
		historyCap: historyCap,

		requests:      newRequestTable(),
		requestWindow: DefaultRequestWindow,
		requestCap:    DefaultRequestCap,
	}
}

// applyCtx carries what a command may depend on besides the state: its log
// index and the leader's timestamp. Nothing else (no clock, no randomness).
type applyCtx struct {
	index uint64
	// sub is the command's position in a packed entry (pack.go), -1 for
	// an entry of its own.
	sub     int
	at      time.Time
	nextSeq int // intents created so far by this command
}

// intentID names the command's next intent "<index>-<n>", or
// "<index>.<sub>-<n>" for a command of a packed entry. The part before the
// dash is the command's operation id (cluster/api): it must name exactly
// the intents of one command, so packed commands, which share the index,
// add their position.
func (c *applyCtx) intentID() string {
	var id string
	if c.sub < 0 {
		id = fmt.Sprintf("%d-%d", c.index, c.nextSeq)
	} else {
		id = fmt.Sprintf("%d.%d-%d", c.index, c.sub, c.nextSeq)
	}
	c.nextSeq++
	return id
}

func (s *state) addVG(vg *VG) {
	volName := func(h int32) string { return s.volumes.slot(h).Name }
	s.vgs[vg.Name] = &vgEntry{vg: vg, names: newNameIndex(volName), volumes: nameSet{name: volName}, pools: map[string]struct{}{}}
	s.vgUUIDs[vg.UUID] = vg.Name
}

func (s *state) addPool(p *Pool) {
	s.pools[p.UUID] = &poolEntry{pool: p, thins: map[uint32]uuidKey{}, volumes: map[uuidKey]int32{}}
	e := s.vgs[p.VG]
	e.names.pools[p.Name] = p.UUID
	e.pools[p.UUID] = struct{}{}
	np := s.nodePools[p.Node]
	if np == nil {
		np = map[string]struct{}{}
		s.nodePools[p.Node] = np
	}
	np[p.UUID] = struct{}{}
}

func (s *state) removePool(pe *poolEntry) {
	p := pe.pool
	e := s.vgs[p.VG]
	delete(e.names.pools, p.Name)
	delete(e.pools, p.UUID)
	delete(s.nodePools[p.Node], p.UUID)
	if len(s.nodePools[p.Node]) == 0 {
		delete(s.nodePools, p.Node)
	}
	delete(s.pools, p.UUID)
}

// addVolume stores and indexes a copy of v and returns it, the volume to
// change from then on; v's thin id (if any) must already be reserved.
//
// The record keeps v for as long as the volume lives, and the garbage
// collector marks every object it holds on every cycle: v's VG and pool
// become the VG's and pool's own strings, and its uuid and name, the two
// that are its own, share one allocation (docs/metadata.md, "Memory and
// the garbage collector").
func (s *state) addVolume(nv *Volume) *Volume {
	e := s.vgs[nv.VG]
	k := keyOf(nv.UUID)
	h, v := s.volumes.add(k, nv)
	v.VG, v.Pool = e.vg.Name, s.pools[v.Pool].pool.UUID
	both := v.UUID + v.Name
	v.UUID, v.Name = both[:len(v.UUID)], both[len(v.UUID):]
	e.names.addVolume(v.Name, h)
	e.volumes.insert(h)
	s.pools[v.Pool].volumes[k] = h
	return v
}

func (s *state) removeVolume(v *Volume) {
	e := s.vgs[v.VG]
	k := keyOf(v.UUID)
	h := s.volumes.byUUID[k]
	e.names.removeVolume(v.Name, h)
	e.volumes.remove(h)
	pe := s.pools[v.Pool]
	delete(pe.volumes, k)
	if v.ThinID != 0 && pe.thins[v.ThinID] == k {
		delete(pe.thins, v.ThinID)
	}
	s.volumes.remove(k)
}

func (s *state) renameVolume(v *Volume, name string) {
	e := s.vgs[v.VG]
	h := s.volumes.byUUID[keyOf(v.UUID)]
	e.names.removeVolume(v.Name, h)
	e.volumes.remove(h)
	v.Name = name
	e.names.addVolume(name, h)
	e.volumes.insert(h)
}

// resolveVolume finds a volume by uuid or VG/name.
func (s *state) resolveVolume(r VolumeRef) (*Volume, *Error) {
	if r.UUID != "" {
		v := s.volumes.get(r.UUID)
		if v == nil {
			return nil, errf(CodeNotFound, "volume %s not found", r.UUID)
		}
		return v, nil
	}
	if r.VG == "" || r.Name == "" {
		return nil, errf(CodeInvalid, "a volume is named by uuid or by vg and name")
	}
	e := s.vgs[r.VG]
	if e == nil {
		return nil, errf(CodeNotFound, "VG %s not found", r.VG)
	}
	h, ok := e.names.volume(r.Name)
	if !ok {
		return nil, errf(CodeNotFound, "volume %s/%s not found", r.VG, r.Name)
	}
	return s.volumes.slot(h), nil
}

// resolvePool finds a pool by uuid, or by name within vg when vg is given.
func (s *state) resolvePool(vg, ref string) (*poolEntry, *Error) {
	if pe := s.pools[ref]; pe != nil && (vg == "" || pe.pool.VG == vg) {
		return pe, nil
	}
	if vg != "" {
		if e := s.vgs[vg]; e != nil {
			if uuid, ok := e.names.pools[ref]; ok {
				return s.pools[uuid], nil
			}
		}
		return nil, errf(CodeNotFound, "pool %s not found in VG %s", ref, vg)
	}
	return nil, errf(CodeNotFound, "pool %s not found", ref)
}

// nameFree checks that name is unused in VG e.
func nameFree(e *vgEntry, name string) *Error {
	if e.names.taken(name) {
		return errf(CodeExists, "%s/%s already exists", e.vg.Name, name)
	}
	return nil
}

// checkQuota refuses one more volume in e when its quota is reached.
func checkQuota(e *vgEntry) *Error {
	if e.vg.MaxVolumes > 0 && e.volumes.len() >= e.vg.MaxVolumes {
		return errf(CodeQuota, "VG %s has %d volumes, its maximum", e.vg.Name, e.vg.MaxVolumes)
	}
	return nil
}

// allocThin reserves the next free thin id for volume uuid, starting at
// NextThinID and wrapping within 1..MaxThinID. Thin ids are reused only
// after the delete that freed them completed. The search is long only when
// the pool's id space is nearly full.
func (pe *poolEntry) allocThin(uuid string) (uint32, *Error) {
	id := pe.pool.NextThinID
	if id == 0 || id > MaxThinID {
		id = 1
	}
	for range MaxThinID {
		if _, used := pe.thins[id]; !used {
			pe.thins[id] = keyOf(uuid)
			pe.pool.NextThinID = id%MaxThinID + 1
			return id, nil
		}
		id = id%MaxThinID + 1
	}
	return 0, errf(CodeNoSpace, "pool %s has no free thin id", pe.pool.Name)
}

// writable checks that pool pe accepts new intents: not quarantined, its
// node up, its last reported mode not out of space.
func (s *state) writable(pe *poolEntry) *Error {
	p := pe.pool
	if p.State == PoolQuarantined {
		return errf(CodeConflict, "pool %s/%s is quarantined: %d finding(s); see docs/repair.md", p.VG, p.Name, len(p.Findings))
	}
	if n := s.nodes[p.Node]; n == nil || n.State != NodeUp {
		return errf(CodeUnavailable, "pool %s/%s: its node %s is not up", p.VG, p.Name, p.Node)
	}
	switch p.Usage.Mode {
	case "out_of_data_space":
		return errf(CodeNoSpace, "pool %s/%s is out of data space", p.VG, p.Name)
	case "ro", "Fail", "Error":
		return errf(CodeUnavailable, "pool %s/%s is in %s mode", p.VG, p.Name, p.Usage.Mode)
	}
	return nil
}
