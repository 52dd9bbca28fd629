package metadata

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// harness applies commands to an FSM the way Raft would: consecutive
// indexes, a leader clock that only moves forward, and a log kept for
// replay.
type harness struct {
	t     testing.TB
	f     *FSM
	index uint64
	now   time.Time
	uuids int
	log   [][]byte
	// checkRefused: assert that every refused command leaves the state
	// exactly as it was.
	checkRefused bool
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, f: New(Options{}), now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
}

// uuid returns a fresh deterministic uuid, as a leader would generate.
func (h *harness) uuid() string {
	h.uuids++
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", h.uuids, h.uuids)
}

func (h *harness) do(typ CommandType, payload any) *Result {
	h.t.Helper()
	return h.doRequest("", typ, payload)
}

// doRequest is do with an idempotency key.
func (h *harness) doRequest(key string, typ CommandType, payload any) *Result {
	h.t.Helper()
	h.now = h.now.Add(time.Second)
	data, err := EncodeRequest(typ, h.now, key, payload)
	if err != nil {
		h.t.Fatal(err)
	}
	h.log = append(h.log, data)
	h.index++
	var before []byte
	if h.checkRefused {
		before = stateBytes(h.t, h.f)
	}
	r := h.f.ApplyCommand(h.index, data)
	if r.Index != h.index {
		h.t.Fatalf("result index %d, want %d", r.Index, h.index)
	}
	if h.checkRefused && r.Err != nil && !bytes.Equal(before, stateBytes(h.t, h.f)) {
		h.t.Fatalf("refused %s (%v) changed the state", typ, r.Err)
	}
	return r
}

func (h *harness) ok(typ CommandType, payload any) *Result {
	h.t.Helper()
	r := h.do(typ, payload)
	if r.Err != nil {
		h.t.Fatalf("%s %+v: %v", typ, payload, r.Err)
	}
	return r
}

func (h *harness) fail(code Code, typ CommandType, payload any) *Result {
	h.t.Helper()
	r := h.do(typ, payload)
	if r.Err == nil || r.Err.Code != code {
		h.t.Fatalf("%s %+v: got %v, want code %s", typ, payload, r, code)
	}
	return r
}

// basic sets up node n1 (up), VG vg0 and pool pool0 on n1; it returns the
// pool's uuid.
func (h *harness) basic() string {
	h.t.Helper()
	h.ok(CmdNodeJoin, NodeJoin{ID: "n1", Addr: "127.0.0.1:7001", APIAddr: "127.0.0.1:8001", Voter: true})
	h.ok(CmdVGCreate, VGCreate{Name: "vg0", UUID: h.uuid()})
	pool := h.uuid()
	h.ok(CmdPoolAdd, PoolAdd{UUID: pool, VG: "vg0", Name: "pool0", Node: "n1", ChunkSectors: 128,
		DataBytes: 1 << 30, MetaBytes: 64 << 20})
	return pool
}

// create makes an active volume and returns its uuid.
func (h *harness) create(pool, name string, size uint64) string {
	h.t.Helper()
	id := h.uuid()
	r := h.ok(CmdVolumeCreate, VolumeCreate{UUID: id, VG: "vg0", Name: name, Pool: pool, SizeBytes: size})
	h.completeAll(pool)
	_ = r
	return id
}

// completeAll completes the pool's whole queue as one batch, as an agent
// would.
func (h *harness) completeAll(pool string) *Result {
	h.t.Helper()
	q := h.f.PendingIntents(pool)
	if len(q) == 0 {
		return nil
	}
	ids := make([]string, len(q))
	for i, in := range q {
		ids[i] = in.ID
	}
	return h.ok(CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: q[0].FromTxn, Intents: ids})
}

func (h *harness) volume(ref VolumeRef) Volume {
	h.t.Helper()
	var v Volume
	var ok bool
	if ref.UUID != "" {
		v, ok = h.f.Volume(ref.UUID)
	} else {
		v, ok = h.f.VolumeByName(ref.VG, ref.Name)
	}
	if !ok {
		h.t.Fatalf("volume %s not found", ref)
	}
	return v
}

func (h *harness) pool(uuid string) Pool {
	h.t.Helper()
	var p Pool
	h.f.Read(func(v View) { p, _ = v.Pool(uuid) })
	return p
}

// snapshotBytes is the FSM's snapshot in the persisted format.
func snapshotBytes(t testing.TB, f *FSM) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := f.snapshot().WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// checkInvariants verifies that every index agrees with the objects it
// indexes and that each queue satisfies the transaction sequence.
func checkInvariants(t testing.TB, f *FSM) {
	t.Helper()
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := f.st
	fail := func(format string, a ...any) { t.Helper(); t.Fatalf("invariant: "+format, a...) }
	names := 0
	for name, e := range s.vgs {
		if e.vg.Name != name || s.vgUUIDs[e.vg.UUID] != name {
			fail("VG %s index", name)
		}
		names += e.names.len()
		for n, uuid := range e.names.pools {
			if p := s.pools[uuid]; p == nil || p.pool.Name != n || p.pool.VG != name {
				fail("VG %s name %s -> pool %s", name, n, uuid)
			}
		}
		nv := 0
		for k, h := range s.volumes.byUUID {
			v := s.volumes.slot(h)
			if v.VG != name {
				continue
			}
			nv++
			if got, ok := e.names.volume(v.Name); !ok || got != h {
				fail("VG %s name %s -> slot %d, want %d (volume %s)", name, v.Name, got, h, k.String())
			}
		}
		if nv != e.volumes.len() || nv != e.names.vols.len() {
			fail("VG %s: %d volumes, ordered set has %d, name index %d", name, nv, e.volumes.len(), e.names.vols.len())
		}
		all := e.volumes.after("", nv+1)
		if len(all) != nv || !slices.IsSortedFunc(all, func(a, b int32) int { return strings.Compare(s.volumes.slot(a).Name, s.volumes.slot(b).Name) }) {
			fail("VG %s ordered set unsorted or wrong size", name)
		}
	}
	if names != len(s.pools)+s.volumes.len() {
		fail("%d names for %d pools + %d volumes", names, len(s.pools), s.volumes.len())
	}
	pending := 0
	for id, pe := range s.pools {
		if pe.pool.UUID != id {
			fail("pool %s key", id)
		}
		if _, ok := s.nodePools[pe.pool.Node][id]; !ok {
			fail("pool %s missing from node %s", id, pe.pool.Node)
		}
		for i, in := range pe.queue {
			pending++
			if in.State != IntentPending || in.Pool != id || s.intents[in.ID] != in {
				fail("queued intent %s: %+v", in.ID, *in)
			}
			if in.FromTxn != pe.pool.TxnID+uint64(i) {
				fail("pool %s queue[%d] from txn %d, txn %d", id, i, in.FromTxn, pe.pool.TxnID)
			}
			if in.Op != OpDelete && pe.thins[in.ThinID] != keyOf(in.Volume) {
				fail("intent %s thin %d not reserved for %s", in.ID, in.ThinID, in.Volume)
			}
		}
		for thin, vol := range pe.thins {
			v := s.volumes.getKey(vol)
			if v == nil || v.Pool != id {
				fail("pool %s thin %d -> missing volume %s", id, thin, vol)
			}
		}
		for vid, h := range pe.volumes {
			if v := s.volumes.getKey(vid); v == nil || v.Pool != id || s.volumes.byUUID[vid] != h {
				fail("pool %s lists volume %s at slot %d", id, vid, h)
			}
		}
	}
	slots := 0
	for _, c := range s.volumes.chunks {
		slots += len(c)
	}
	if slots != s.volumes.len()+len(s.volumes.free) {
		fail("volume table: %d slots, %d volumes, %d free", slots, s.volumes.len(), len(s.volumes.free))
	}
	for _, h := range s.volumes.free {
		if !reflect.DeepEqual(*s.volumes.slot(h), Volume{}) {
			fail("free volume slot %d not cleared", h)
		}
	}
	for k, h := range s.volumes.byUUID {
		v := s.volumes.slot(h)
		id := v.UUID
		if id != k.String() {
			fail("volume slot %d holds %s, indexed as %s", h, id, k.String())
		}
		pe := s.pools[v.Pool]
		if pe == nil {
			fail("volume %s pool %s missing", id, v.Pool)
		}
		if _, ok := pe.volumes[keyOf(id)]; !ok {
			fail("volume %s not in its pool's set", id)
		}
		if v.ThinID != 0 && pe.thins[v.ThinID] != keyOf(id) {
			fail("volume %s thin %d owned by %q", id, v.ThinID, pe.thins[v.ThinID])
		}
		if v.State != VolumeReverting && (v.State == VolumeFailed) != (v.ThinID == 0) {
			fail("volume %s state %s with thin id %d", id, v.State, v.ThinID)
		}
	}
	finished := 0
	for _, in := range s.intents {
		if in.State != IntentPending {
			finished++
		}
	}
	if finished != len(s.finished) || finished+pending != len(s.intents) || len(s.finished) > s.historyCap {
		fail("intents: %d finished (%d listed), %d pending, %d total", finished, len(s.finished), pending, len(s.intents))
	}
}
