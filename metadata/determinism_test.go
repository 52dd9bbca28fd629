package metadata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// generator drives a harness with a random but state-aware mix of commands:
// mostly valid ones, plus the invalid, conflicting and out-of-order ones a
// real cluster sees (agent retries, lost races, stale names).
type generator struct {
	h    *harness
	rng  *rand.Rand
	vols []string // every volume uuid ever created (some deleted)
}

var genNames = []string{"a", "b", "c", "d", "e", "f", "g", "h", "db", "web", "log", "tmp"}

func (g *generator) setup() {
	h := g.h
	for i := 1; i <= 3; i++ {
		h.ok(CmdNodeJoin, NodeJoin{ID: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("10.0.0.%d:7000", i)})
	}
	h.ok(CmdVGCreate, VGCreate{Name: "vg0", UUID: h.uuid(), MaxVolumes: 40})
	h.ok(CmdVGCreate, VGCreate{Name: "vg1", UUID: h.uuid()})
	for i, p := range []struct{ vg, node string }{{"vg0", "n1"}, {"vg0", "n2"}, {"vg1", "n3"}} {
		h.ok(CmdPoolAdd, PoolAdd{UUID: h.uuid(), VG: p.vg, Name: fmt.Sprintf("p%d", i), Node: p.node, ChunkSectors: 128,
			DataBytes: 1 << 30, MetaBytes: 4 << 20, TxnID: uint64(i * 10)})
	}
}

func (g *generator) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *generator) volRef() VolumeRef {
	if len(g.vols) == 0 || g.rng.IntN(10) == 0 {
		return VolumeRef{VG: g.pick([]string{"vg0", "vg1"}), Name: g.pick(genNames)}
	}
	return VolumeRef{UUID: g.pick(g.vols)}
}

func (g *generator) pools() []Pool {
	var ps []Pool
	g.h.f.Read(func(v View) {
		for _, vg := range v.VGs() {
			ps = append(ps, v.PoolsOfVG(vg.Name)...)
		}
	})
	return ps
}

// step issues one random command.
func (g *generator) step() {
	h, r := g.h, g.rng
	ps := g.pools()
	p := ps[r.IntN(len(ps))]
	// A third of the commands carry an idempotency key from a small set,
	// so repeats (and keys reused for another command) are common.
	do := func(typ CommandType, payload any) *Result {
		if r.IntN(3) == 0 {
			return h.doRequest(fmt.Sprintf("key-%d", r.IntN(40)), typ, payload)
		}
		return h.do(typ, payload)
	}
	switch n := r.IntN(100); {
	case n < 22:
		id := h.uuid()
		size := uint64(1+r.IntN(64)) << 20
		if r.IntN(20) == 0 {
			size = 1000
		}
		pool := p.Name
		if r.IntN(2) == 0 {
			pool = p.UUID
		}
		res := do(CmdVolumeCreate, VolumeCreate{UUID: id, VG: p.VG, Name: g.pick(genNames), Pool: pool, SizeBytes: size})
		if res.Err == nil {
			g.vols = append(g.vols, id)
		}
	case n < 34:
		id := h.uuid()
		res := do(CmdSnapshotCreate, SnapshotCreate{UUID: id, Origin: g.volRef(), Name: g.pick(genNames) + "s"})
		if res.Err == nil {
			g.vols = append(g.vols, id)
		}
	case n < 44:
		do(CmdVolumeDelete, VolumeDelete{Volume: g.volRef()})
	case n < 48:
		do(CmdVolumeExtend, VolumeExtend{Volume: g.volRef(), SizeBytes: uint64(1+r.IntN(128)) << 20})
	case n < 52:
		do(CmdVolumeRename, VolumeRename{Volume: g.volRef(), NewName: g.pick(genNames)})
	case n < 54:
		do(CmdVolumeSetTags, VolumeSetTags{Volume: g.volRef(), Tags: []string{g.pick(genNames), g.pick(genNames)}})
	case n < 55:
		do(CmdVolumeSetActive, VolumeSetActive{Volume: g.volRef(), Active: r.IntN(2) == 0})
	case n < 56:
		do(CmdVolumeSetReadOnly, VolumeSetReadOnly{Volume: g.volRef(), ReadOnly: r.IntN(2) == 0})
	case n < 62:
		vol, snap := g.volRef(), g.volRef()
		if r.IntN(4) != 0 {
			vol, snap = g.snapshotPair()
		}
		do(CmdVolumeRevert, VolumeRevert{Volume: vol, Snapshot: snap})
	case n < 84:
		g.agentComplete(p)
	case n < 90:
		q := h.f.PendingIntents(p.UUID)
		if len(q) > 0 {
			do(CmdIntentAbandon, IntentAbandon{Pool: p.UUID, Intents: []string{q[r.IntN(len(q))].ID}, Reason: "refused"})
		}
	case n < 92:
		do(CmdNodeSetState, NodeSetState{ID: g.pick([]string{"n1", "n2", "n3"}), State: NodeState(g.pick([]string{"up", "up", "down"}))})
	case n < 93:
		do(CmdPoolQuarantine, PoolQuarantine{Pool: p.UUID, Findings: []Finding{{Kind: "unknown_thin_id", ThinID: uint32(r.IntN(99))}}})
	case n < 95:
		do(CmdPoolUnquarantine, PoolUnquarantine{Pool: p.UUID})
	case n < 97:
		var vu []VolumeUsage
		for i := 0; i < 3 && len(g.vols) > 0; i++ {
			vu = append(vu, VolumeUsage{UUID: g.pick(g.vols), ExclusiveBytes: uint64(r.IntN(1 << 20)), Open: r.IntN(4) == 0})
		}
		do(CmdPoolReportUsage, PoolReportUsage{Pool: p.UUID, Usage: Usage{DataUsed: uint64(r.IntN(100)), DataTotal: 100, Mode: g.pick([]string{"rw", "rw", "out_of_data_space"})}, Volumes: vu})
	case n < 98:
		do(CmdPoolGrow, PoolGrow{Pool: p.UUID, DataBytes: p.DataBytes + uint64(r.IntN(3))<<20})
	default:
		do(CmdVGSet, VGSet{Name: "vg0", MaxVolumes: ptr(r.IntN(60))})
	}
}

// snapshotPair finds an existing snapshot whose origin exists, from a
// random starting point.
func (g *generator) snapshotPair() (vol, snap VolumeRef) {
	if len(g.vols) == 0 {
		return g.volRef(), g.volRef()
	}
	start := g.rng.IntN(len(g.vols))
	for i := range g.vols {
		id := g.vols[(start+i)%len(g.vols)]
		s, ok := g.h.f.Volume(id)
		if !ok || !s.IsSnapshot {
			continue
		}
		if _, ok := g.h.f.Volume(s.Origin); ok {
			return VolumeRef{UUID: s.Origin}, VolumeRef{UUID: id}
		}
	}
	return g.volRef(), g.volRef()
}

// agentComplete completes a prefix of the pool's queue, as an agent does,
// and sometimes repeats or garbles the completion.
func (g *generator) agentComplete(p Pool) {
	h, r := g.h, g.rng
	q := h.f.PendingIntents(p.UUID)
	if len(q) == 0 {
		return
	}
	k := 1 + r.IntN(len(q))
	ids := make([]string, k)
	for i := range k {
		ids[i] = q[i].ID
	}
	from := q[0].FromTxn
	switch r.IntN(10) {
	case 0:
		from++ // a stale agent
	case 1:
		if k > 1 {
			ids[0], ids[1] = ids[1], ids[0] // out of order
		}
	}
	h.do(CmdIntentComplete, IntentComplete{Pool: p.UUID, FromTxn: from, Intents: ids})
	if r.IntN(5) == 0 {
		h.do(CmdIntentComplete, IntentComplete{Pool: p.UUID, FromTxn: from, Intents: ids}) // a retry
	}
}

func resultsJSON(t testing.TB, rs []*Result) []byte {
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeterminism: a random log applied to fresh FSMs gives identical
// results and byte-identical snapshots; a snapshot taken halfway, restored
// and fed the rest of the log, ends in the same state; a restored snapshot
// re-encodes to the same bytes. Invariants hold after every command.
func TestDeterminism(t *testing.T) {
	seeds, steps := 8, 4000
	if testing.Short() {
		seeds, steps = 2, 600
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			h := newHarness(t)
			h.f = New(Options{IntentHistory: 200})
			g := &generator{h: h, rng: rand.New(rand.NewPCG(uint64(seed), 99))}
			g.setup()
			var results []*Result
			var mid []byte
			midIndex := uint64(0)
			errs := map[Code]int{}
			for i := range steps {
				g.step()
				checkInvariants(t, h.f)
				if i == steps/2 {
					mid, midIndex = snapshotBytes(t, h.f), h.index
				}
			}
			// Replay on a fresh FSM, collecting results from both.
			f2 := New(Options{IntentHistory: 200})
			f1 := New(Options{IntentHistory: 200})
			var results2 []*Result
			okByType := map[CommandType]int{}
			for i, data := range h.log {
				r1 := f1.ApplyCommand(uint64(i+1), data)
				results = append(results, r1)
				results2 = append(results2, f2.ApplyCommand(uint64(i+1), data))
				if r1.Err != nil {
					errs[r1.Err.Code]++
				} else {
					var c Command
					_ = json.Unmarshal(data, &c)
					okByType[c.Type]++
				}
			}
			if !bytes.Equal(resultsJSON(t, results), resultsJSON(t, results2)) {
				t.Fatal("results differ between replicas")
			}
			final := snapshotBytes(t, h.f)
			if !bytes.Equal(final, snapshotBytes(t, f1)) || !bytes.Equal(final, snapshotBytes(t, f2)) {
				t.Fatal("snapshots differ between replicas")
			}
			// Snapshot halfway, restore, apply the rest.
			f3 := New(Options{IntentHistory: 200})
			if err := f3.Restore(io.NopCloser(bytes.NewReader(mid))); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, f3)
			for i := midIndex; i < uint64(len(h.log)); i++ {
				f3.ApplyCommand(i+1, h.log[i])
			}
			if !bytes.Equal(final, snapshotBytes(t, f3)) {
				t.Fatal("restore from the middle then replay differs")
			}
			f4 := New(Options{IntentHistory: 200})
			if err := f4.Restore(io.NopCloser(bytes.NewReader(final))); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, f4)
			if !bytes.Equal(final, snapshotBytes(t, f4)) {
				t.Fatal("restored snapshot re-encodes differently")
			}
			var nv, ni int
			h.f.Read(func(v View) { nv = v.st.volumes.len(); ni = len(v.st.intents) })
			t.Logf("%d commands, refused by code %v; applied by type %v; %d volumes, %d intents at the end", len(h.log), errs, okByType, nv, ni)
			// The generator's coverage is judged on full runs: -short's 600
			// steps apply too few of the rarer commands for a fixed bar.
			for _, typ := range []CommandType{CmdVolumeCreate, CmdSnapshotCreate, CmdVolumeDelete, CmdVolumeRevert, CmdIntentComplete, CmdIntentAbandon} {
				if okByType[typ] < 5 && !testing.Short() {
					t.Errorf("only %d %s applied: the generator does not exercise it", okByType[typ], typ)
				}
			}
			if errs[CodeConflict] == 0 || errs[CodeExists] == 0 {
				t.Fatalf("the generator does not exercise refusals: %v", errs)
			}
		})
	}
}
