package metadata

import (
	"bytes"
	"strings"
	"testing"
)

// fixture: node n1, VG vg0, pool0 on n1, active volume v1 (1 GiB) and its
// active snapshot s1.
type fixture struct {
	pool, v1, s1 string
}

func newFixture(h *harness) fixture {
	fx := fixture{pool: h.basic()}
	fx.v1 = h.create(fx.pool, "v1", 1<<30)
	fx.s1 = h.uuid()
	h.ok(CmdSnapshotCreate, SnapshotCreate{UUID: fx.s1, Origin: VolumeRef{VG: "vg0", Name: "v1"}, Name: "s1"})
	h.completeAll(fx.pool)
	return fx
}

// stateBytes is the snapshot without the applied index, to compare states
// across commands.
func stateBytes(t testing.TB, f *FSM) []byte {
	sn := f.snapshot()
	sn.index = 0
	var b bytes.Buffer
	if _, err := sn.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var v1Ref = VolumeRef{VG: "vg0", Name: "v1"}

func TestCommands(t *testing.T) {
	type tc struct {
		name string
		// run issues the command under test (after any setup of its own).
		run   func(h *harness, fx fixture) *Result
		code  Code
		check func(t *testing.T, h *harness, fx fixture, r *Result)
	}
	cmd := func(typ CommandType, p any) func(*harness, fixture) *Result {
		return func(h *harness, _ fixture) *Result { return h.do(typ, p) }
	}
	const uA = "0000000a-0000-4000-8000-00000000000a"
	cases := []tc{
		// nodes
		{name: "node join", run: cmd(CmdNodeJoin, NodeJoin{ID: "n2", Addr: "10.0.0.2:7000"}), check: func(t *testing.T, h *harness, _ fixture, _ *Result) {
			var n Node
			h.f.Read(func(v View) { n, _ = v.Node("n2") })
			if n.State != NodeUp || n.Name != "n2" || !n.JoinedAt.Equal(h.now) {
				t.Fatalf("node %+v", n)
			}
		}},
		{name: "node rejoin updates address", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdNodeSetState, NodeSetState{ID: "n1", State: NodeDown})
			return h.do(CmdNodeJoin, NodeJoin{ID: "n1", Addr: "127.0.0.1:9999", Voter: true})
		}, check: func(t *testing.T, h *harness, _ fixture, _ *Result) {
			var n Node
			h.f.Read(func(v View) { n, _ = v.Node("n1") })
			if n.Addr != "127.0.0.1:9999" || n.State != NodeUp {
				t.Fatalf("node %+v", n)
			}
		}},
		{name: "node join bad id", run: cmd(CmdNodeJoin, NodeJoin{ID: "n 2", Addr: "x:1"}), code: CodeInvalid},
		{name: "node join no addr", run: cmd(CmdNodeJoin, NodeJoin{ID: "n2"}), code: CodeInvalid},
		{name: "node join name taken", run: cmd(CmdNodeJoin, NodeJoin{ID: "n2", Name: "n1", Addr: "x:1"}), code: CodeExists},
		{name: "node leave owning pools", run: cmd(CmdNodeLeave, NodeLeave{ID: "n1"}), code: CodeConflict},
		{name: "node leave unknown", run: cmd(CmdNodeLeave, NodeLeave{ID: "nx"}), code: CodeNotFound},
		{name: "node leave", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdNodeJoin, NodeJoin{ID: "n2", Addr: "x:1"})
			return h.do(CmdNodeLeave, NodeLeave{ID: "n2"})
		}},
		{name: "node set down", run: cmd(CmdNodeSetState, NodeSetState{ID: "n1", State: NodeDown})},
		{name: "node set left refused", run: cmd(CmdNodeSetState, NodeSetState{ID: "n1", State: NodeLeft}), code: CodeInvalid},
		{name: "node set state unknown", run: cmd(CmdNodeSetState, NodeSetState{ID: "nx", State: NodeUp}), code: CodeNotFound},
		{name: "node set state after leave", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdNodeJoin, NodeJoin{ID: "n2", Addr: "x:1"})
			h.ok(CmdNodeLeave, NodeLeave{ID: "n2"})
			return h.do(CmdNodeSetState, NodeSetState{ID: "n2", State: NodeUp})
		}, code: CodeConflict},

		// VGs
		{name: "vg create", run: cmd(CmdVGCreate, VGCreate{Name: "vg1", UUID: uA, Tags: []string{"b", "a", "b"}}), check: func(t *testing.T, h *harness, _ fixture, _ *Result) {
			var vg VG
			h.f.Read(func(v View) { vg, _ = v.VG("vg1") })
			if strings.Join(vg.Tags, ",") != "a,b" {
				t.Fatalf("tags %v", vg.Tags)
			}
		}},
		{name: "vg create leading dash", run: cmd(CmdVGCreate, VGCreate{Name: "-vg", UUID: uA}), code: CodeInvalid},
		{name: "vg create dotdot", run: cmd(CmdVGCreate, VGCreate{Name: "..", UUID: uA}), code: CodeInvalid},
		{name: "vg create bad uuid", run: cmd(CmdVGCreate, VGCreate{Name: "vg1", UUID: "nope"}), code: CodeInvalid},
		{name: "vg create exists", run: cmd(CmdVGCreate, VGCreate{Name: "vg0", UUID: uA}), code: CodeExists},
		{name: "vg create uuid taken", run: func(h *harness, _ fixture) *Result {
			var u string
			h.f.Read(func(v View) { vg, _ := v.VG("vg0"); u = vg.UUID })
			return h.do(CmdVGCreate, VGCreate{Name: "vg1", UUID: u})
		}, code: CodeExists},
		{name: "vg create bad tag", run: cmd(CmdVGCreate, VGCreate{Name: "vg1", UUID: uA, Tags: []string{"a b"}}), code: CodeInvalid},
		{name: "vg create negative quota", run: cmd(CmdVGCreate, VGCreate{Name: "vg1", UUID: uA, MaxVolumes: -1}), code: CodeInvalid},
		{name: "vg remove not empty", run: cmd(CmdVGRemove, VGRemove{Name: "vg0"}), code: CodeConflict},
		{name: "vg remove unknown", run: cmd(CmdVGRemove, VGRemove{Name: "vgx"}), code: CodeNotFound},
		{name: "vg remove", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdVGCreate, VGCreate{Name: "vg1", UUID: uA})
			return h.do(CmdVGRemove, VGRemove{Name: "vg1"})
		}},
		{name: "vg set quota", run: cmd(CmdVGSet, VGSet{Name: "vg0", MaxVolumes: ptr(2)})},
		{name: "vg set quota below count", run: cmd(CmdVGSet, VGSet{Name: "vg0", MaxVolumes: ptr(1)}), code: CodeConflict},
		{name: "vg set unknown", run: cmd(CmdVGSet, VGSet{Name: "vgx", MaxVolumes: ptr(1)}), code: CodeNotFound},
		{name: "vg set bad tags", run: cmd(CmdVGSet, VGSet{Name: "vg0", Tags: &[]string{""}}), code: CodeInvalid},

		// pools
		{name: "pool add", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "pool1", Node: "n1", ChunkSectors: 256, DataBytes: 1 << 30, MetaBytes: 4 << 20, TxnID: 7}),
			check: func(t *testing.T, h *harness, _ fixture, _ *Result) {
				p := h.pool(uA)
				if p.TxnID != 7 || p.Discards != "passdown" || p.State != PoolActive || p.NextThinID != 1 {
					t.Fatalf("pool %+v", p)
				}
			}},
		{name: "pool add unknown VG", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vgx", Name: "p", Node: "n1", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 4 << 20}), code: CodeNotFound},
		{name: "pool add unknown node", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "p", Node: "nx", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 4 << 20}), code: CodeNotFound},
		{name: "pool add name of a volume", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "v1", Node: "n1", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 4 << 20}), code: CodeExists},
		{name: "pool add bad chunk", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "p", Node: "n1", ChunkSectors: 100, DataBytes: 1 << 30, MetaBytes: 4 << 20}), code: CodeInvalid},
		{name: "pool add chunk too big", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "p", Node: "n1", ChunkSectors: 4194304, DataBytes: 1 << 40, MetaBytes: 4 << 20}), code: CodeInvalid},
		{name: "pool add zero data", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "p", Node: "n1", ChunkSectors: 128, MetaBytes: 4 << 20}), code: CodeInvalid},
		{name: "pool add data under a chunk", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "p", Node: "n1", ChunkSectors: 256, DataBytes: 64 << 10, MetaBytes: 4 << 20}), code: CodeInvalid},
		{name: "pool add unaligned meta", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "p", Node: "n1", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 1000}), code: CodeInvalid},
		{name: "pool add bad discards", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "p", Node: "n1", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 4 << 20, Discards: "sometimes"}), code: CodeInvalid},
		{name: "pool add reserved name", run: cmd(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "snapshot1", Node: "n1", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 4 << 20}), code: CodeInvalid},
		{name: "pool add uuid of a volume", run: func(h *harness, fx fixture) *Result {
			return h.do(CmdPoolAdd, PoolAdd{UUID: fx.v1, VG: "vg0", Name: "p", Node: "n1", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 4 << 20})
		}, code: CodeExists},
		{name: "pool add on a node that left", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdNodeJoin, NodeJoin{ID: "n2", Addr: "x:1"})
			h.ok(CmdNodeLeave, NodeLeave{ID: "n2"})
			return h.do(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "p", Node: "n2", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 4 << 20})
		}, code: CodeConflict},
		{name: "pool grow", run: func(h *harness, fx fixture) *Result {
			return h.do(CmdPoolGrow, PoolGrow{Pool: fx.pool, DataBytes: 2 << 30})
		}, check: func(t *testing.T, h *harness, fx fixture, _ *Result) {
			if p := h.pool(fx.pool); p.DataBytes != 2<<30 || p.MetaBytes != 64<<20 {
				t.Fatalf("pool %+v", p)
			}
		}},
		{name: "pool shrink", run: func(h *harness, fx fixture) *Result {
			return h.do(CmdPoolGrow, PoolGrow{Pool: fx.pool, MetaBytes: 1 << 20})
		}, code: CodeInvalid},
		{name: "pool grow nothing", run: func(h *harness, fx fixture) *Result { return h.do(CmdPoolGrow, PoolGrow{Pool: fx.pool}) }, code: CodeInvalid},
		{name: "pool grow unknown", run: cmd(CmdPoolGrow, PoolGrow{Pool: uA, DataBytes: 1 << 40}), code: CodeNotFound},
		{name: "pool remove with volumes", run: func(h *harness, fx fixture) *Result { return h.do(CmdPoolRemove, PoolRemove{Pool: fx.pool}) }, code: CodeConflict},
		{name: "pool remove", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdPoolAdd, PoolAdd{UUID: uA, VG: "vg0", Name: "p", Node: "n1", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 4 << 20})
			return h.do(CmdPoolRemove, PoolRemove{Pool: uA})
		}, check: func(t *testing.T, h *harness, _ fixture, _ *Result) {
			if len(h.f.PoolsOfNode("n1")) != 1 {
				t.Fatal("removed pool still listed")
			}
		}},
		{name: "pool report usage", run: func(h *harness, fx fixture) *Result {
			return h.do(CmdPoolReportUsage, PoolReportUsage{Pool: fx.pool, Usage: Usage{DataUsed: 5, DataTotal: 100, Mode: "rw"},
				Volumes: []VolumeUsage{{UUID: fx.v1, ExclusiveBytes: 4096, SharedBytes: 8192}, {UUID: uA, ExclusiveBytes: 1}}})
		}, check: func(t *testing.T, h *harness, fx fixture, _ *Result) {
			p, v := h.pool(fx.pool), h.volume(VolumeRef{UUID: fx.v1})
			if p.Usage.DataUsed != 5 || !p.Usage.ReportedAt.Equal(h.now) || v.ExclusiveBytes != 4096 || v.SharedBytes != 8192 {
				t.Fatalf("usage %+v volume %+v", p.Usage, v)
			}
		}},
		{name: "pool report usage unknown", run: cmd(CmdPoolReportUsage, PoolReportUsage{Pool: uA}), code: CodeNotFound},
		{name: "pool quarantine without findings", run: func(h *harness, fx fixture) *Result {
			return h.do(CmdPoolQuarantine, PoolQuarantine{Pool: fx.pool})
		}, code: CodeInvalid},
		{name: "quarantined pool refuses creates", run: func(h *harness, fx fixture) *Result {
			h.ok(CmdPoolQuarantine, PoolQuarantine{Pool: fx.pool, Findings: []Finding{{Kind: "unknown_thin_id", ThinID: 9}}})
			return h.do(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20})
		}, code: CodeConflict},
		{name: "unquarantine lifts it", run: func(h *harness, fx fixture) *Result {
			h.ok(CmdPoolQuarantine, PoolQuarantine{Pool: fx.pool, Findings: []Finding{{Kind: "unknown_thin_id", ThinID: 9}}})
			h.ok(CmdPoolUnquarantine, PoolUnquarantine{Pool: fx.pool})
			return h.do(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20})
		}, check: func(t *testing.T, h *harness, fx fixture, _ *Result) {
			if p := h.pool(fx.pool); p.State != PoolActive || p.Findings != nil {
				t.Fatalf("pool %+v", p)
			}
		}},

		// volumes
		{name: "volume create", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20, Tags: []string{"x"}}),
			check: func(t *testing.T, h *harness, fx fixture, r *Result) {
				v := h.volume(VolumeRef{VG: "vg0", Name: "v2"})
				if v.UUID != uA || v.State != VolumeCreating || v.ThinID != 3 || v.Pool != fx.pool || len(r.Intents) != 1 {
					t.Fatalf("volume %+v result %v", v, r)
				}
				in, _ := h.f.Intent(r.Intents[0])
				if in.Op != OpCreateThin || in.ThinID != 3 || in.FromTxn != 2 || in.State != IntentPending || in.SizeBytes != 1<<20 {
					t.Fatalf("intent %+v", in)
				}
			}},
		{name: "volume create by pool uuid", run: func(h *harness, fx fixture) *Result {
			return h.do(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: fx.pool, SizeBytes: 1 << 20})
		}},
		{name: "volume create name taken", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v1", Pool: "pool0", SizeBytes: 1 << 20}), code: CodeExists},
		{name: "volume create name of the pool", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "pool0", Pool: "pool0", SizeBytes: 1 << 20}), code: CodeExists},
		{name: "volume create zero size", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0"}), code: CodeInvalid},
		{name: "volume create unaligned size", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1000}), code: CodeInvalid},
		{name: "volume create huge size", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 63}), code: CodeInvalid},
		{name: "volume create slash", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "a/b", Pool: "pool0", SizeBytes: 1 << 20}), code: CodeInvalid},
		{name: "volume create reserved infix", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "x_tmeta", Pool: "pool0", SizeBytes: 1 << 20}), code: CodeInvalid},
		{name: "volume create reserved prefix", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "pvmove0", Pool: "pool0", SizeBytes: 1 << 20}), code: CodeInvalid},
		{name: "volume create long name", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: strings.Repeat("a", 128), Pool: "pool0", SizeBytes: 1 << 20}), code: CodeInvalid},
		{name: "volume create 127 chars", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: strings.Repeat("a", 127), Pool: "pool0", SizeBytes: 1 << 20})},
		{name: "volume create unknown VG", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vgx", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20}), code: CodeNotFound},
		{name: "volume create unknown pool", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "poolx", SizeBytes: 1 << 20}), code: CodeNotFound},
		{name: "volume create no pool", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", SizeBytes: 1 << 20}), code: CodeInvalid},
		{name: "volume create bad uuid", run: cmd(CmdVolumeCreate, VolumeCreate{UUID: "x", VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20}), code: CodeInvalid},
		{name: "volume create uuid taken", run: func(h *harness, fx fixture) *Result {
			return h.do(CmdVolumeCreate, VolumeCreate{UUID: fx.v1, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20})
		}, code: CodeExists},
		{name: "volume create over quota", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdVGSet, VGSet{Name: "vg0", MaxVolumes: ptr(2)})
			return h.do(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20})
		}, code: CodeQuota},
		{name: "volume create node down", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdNodeSetState, NodeSetState{ID: "n1", State: NodeDown})
			return h.do(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20})
		}, code: CodeUnavailable},
		{name: "volume create pool out of space", run: func(h *harness, fx fixture) *Result {
			h.ok(CmdPoolReportUsage, PoolReportUsage{Pool: fx.pool, Usage: Usage{DataUsed: 100, DataTotal: 100, Mode: "out_of_data_space"}})
			return h.do(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20})
		}, code: CodeNoSpace},
		{name: "volume create pool failed", run: func(h *harness, fx fixture) *Result {
			h.ok(CmdPoolReportUsage, PoolReportUsage{Pool: fx.pool, Usage: Usage{Mode: "Fail"}})
			return h.do(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20})
		}, code: CodeUnavailable},
		{name: "volume extend", run: cmd(CmdVolumeExtend, VolumeExtend{Volume: v1Ref, SizeBytes: 2 << 30}), check: func(t *testing.T, h *harness, _ fixture, _ *Result) {
			if v := h.volume(v1Ref); v.SizeBytes != 2<<30 {
				t.Fatalf("size %d", v.SizeBytes)
			}
		}},
		{name: "volume extend same size", run: cmd(CmdVolumeExtend, VolumeExtend{Volume: v1Ref, SizeBytes: 1 << 30}), code: CodeInvalid},
		{name: "volume shrink", run: cmd(CmdVolumeExtend, VolumeExtend{Volume: v1Ref, SizeBytes: 1 << 20}), code: CodeInvalid},
		{name: "volume extend unknown", run: cmd(CmdVolumeExtend, VolumeExtend{Volume: VolumeRef{UUID: uA}, SizeBytes: 1 << 40}), code: CodeNotFound},
		{name: "volume extend deleting", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdVolumeDelete, VolumeDelete{Volume: v1Ref})
			return h.do(CmdVolumeExtend, VolumeExtend{Volume: v1Ref, SizeBytes: 2 << 30})
		}, code: CodeConflict},
		{name: "volume ref without name", run: cmd(CmdVolumeExtend, VolumeExtend{Volume: VolumeRef{VG: "vg0"}, SizeBytes: 2 << 30}), code: CodeInvalid},
		{name: "volume rename", run: cmd(CmdVolumeRename, VolumeRename{Volume: v1Ref, NewName: "w1"}), check: func(t *testing.T, h *harness, fx fixture, _ *Result) {
			if v := h.volume(VolumeRef{VG: "vg0", Name: "w1"}); v.UUID != fx.v1 {
				t.Fatalf("renamed %+v", v)
			}
			if _, ok := h.f.VolumeByName("vg0", "v1"); ok {
				t.Fatal("old name still resolves")
			}
		}},
		{name: "volume rename to taken", run: cmd(CmdVolumeRename, VolumeRename{Volume: v1Ref, NewName: "s1"}), code: CodeExists},
		{name: "volume rename same", run: cmd(CmdVolumeRename, VolumeRename{Volume: v1Ref, NewName: "v1"}), code: CodeInvalid},
		{name: "volume rename invalid", run: cmd(CmdVolumeRename, VolumeRename{Volume: v1Ref, NewName: "."}), code: CodeInvalid},
		{name: "volume rename unknown", run: cmd(CmdVolumeRename, VolumeRename{Volume: VolumeRef{VG: "vg0", Name: "zz"}, NewName: "w"}), code: CodeNotFound},
		{name: "volume set tags", run: cmd(CmdVolumeSetTags, VolumeSetTags{Volume: v1Ref, Tags: []string{"z", "a=1", "z"}}), check: func(t *testing.T, h *harness, _ fixture, _ *Result) {
			if v := h.volume(v1Ref); strings.Join(v.Tags, ",") != "a=1,z" {
				t.Fatalf("tags %v", v.Tags)
			}
		}},
		{name: "volume set bad tag", run: cmd(CmdVolumeSetTags, VolumeSetTags{Volume: v1Ref, Tags: []string{"a b"}}), code: CodeInvalid},
		{name: "volume set too many tags", run: cmd(CmdVolumeSetTags, VolumeSetTags{Volume: v1Ref, Tags: make([]string, MaxTags+1)}), code: CodeInvalid},
		{name: "volume set read-only", run: cmd(CmdVolumeSetReadOnly, VolumeSetReadOnly{Volume: v1Ref, ReadOnly: true}), check: func(t *testing.T, h *harness, _ fixture, _ *Result) {
			if !h.volume(v1Ref).ReadOnly {
				t.Fatal("not read-only")
			}
		}},
		{name: "volume delete", run: cmd(CmdVolumeDelete, VolumeDelete{Volume: v1Ref}), check: func(t *testing.T, h *harness, fx fixture, r *Result) {
			v := h.volume(v1Ref)
			in, _ := h.f.Intent(r.Intents[0])
			if v.State != VolumeDeleting || in.Op != OpDelete || in.ThinID != v.ThinID {
				t.Fatalf("volume %+v intent %+v", v, in)
			}
			h.completeAll(fx.pool)
			if _, ok := h.f.Volume(fx.v1); ok {
				t.Fatal("deleted volume still there")
			}
			// The name is free again; the snapshot survives its origin.
			h.ok(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v1", Pool: "pool0", SizeBytes: 1 << 20})
			if s := h.volume(VolumeRef{UUID: fx.s1}); s.Origin != fx.v1 || s.State != VolumeActive {
				t.Fatalf("snapshot %+v", s)
			}
		}},
		{name: "volume delete twice", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdVolumeDelete, VolumeDelete{Volume: v1Ref})
			return h.do(CmdVolumeDelete, VolumeDelete{Volume: v1Ref})
		}, code: CodeConflict},
		{name: "volume delete while creating", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20})
			return h.do(CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{UUID: uA}})
		}, code: CodeConflict},
		{name: "volume delete node down", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdNodeSetState, NodeSetState{ID: "n1", State: NodeDown})
			return h.do(CmdVolumeDelete, VolumeDelete{Volume: v1Ref})
		}, code: CodeUnavailable},
		{name: "volume delete failed is immediate", run: func(h *harness, fx fixture) *Result {
			r := h.ok(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20})
			h.ok(CmdIntentAbandon, IntentAbandon{Pool: fx.pool, Intents: r.Intents, Reason: "no space"})
			return h.do(CmdVolumeDelete, VolumeDelete{Volume: VolumeRef{UUID: uA}})
		}, check: func(t *testing.T, h *harness, fx fixture, r *Result) {
			if _, ok := h.f.Volume(uA); ok || len(r.Intents) != 0 || len(h.f.PendingIntents(fx.pool)) != 0 {
				t.Fatalf("failed volume not removed at once: %v", r)
			}
		}},

		// snapshots and revert
		{name: "snapshot create", run: cmd(CmdSnapshotCreate, SnapshotCreate{UUID: uA, Origin: v1Ref, Name: "s2"}),
			check: func(t *testing.T, h *harness, fx fixture, r *Result) {
				o, s := h.volume(v1Ref), h.volume(VolumeRef{UUID: uA})
				in, _ := h.f.Intent(r.Intents[0])
				if !s.IsSnapshot || s.Origin != fx.v1 || s.SizeBytes != o.SizeBytes || !s.ActivationSkip || in.Op != OpCreateSnap || in.Origin != o.ThinID {
					t.Fatalf("snapshot %+v intent %+v", s, in)
				}
			}},
		{name: "snapshot of unknown", run: cmd(CmdSnapshotCreate, SnapshotCreate{UUID: uA, Origin: VolumeRef{UUID: uA}, Name: "s2"}), code: CodeNotFound},
		{name: "snapshot name taken", run: cmd(CmdSnapshotCreate, SnapshotCreate{UUID: uA, Origin: v1Ref, Name: "s1"}), code: CodeExists},
		{name: "snapshot reserved name", run: cmd(CmdSnapshotCreate, SnapshotCreate{UUID: uA, Origin: v1Ref, Name: "snapshot2"}), code: CodeInvalid},
		{name: "snapshot of deleting origin", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdVolumeDelete, VolumeDelete{Volume: v1Ref})
			return h.do(CmdSnapshotCreate, SnapshotCreate{UUID: uA, Origin: v1Ref, Name: "s2"})
		}, code: CodeConflict},
		{name: "snapshot over quota", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdVGSet, VGSet{Name: "vg0", MaxVolumes: ptr(2)})
			return h.do(CmdSnapshotCreate, SnapshotCreate{UUID: uA, Origin: v1Ref, Name: "s2"})
		}, code: CodeQuota},
		{name: "snapshot of a creating origin", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdVolumeCreate, VolumeCreate{UUID: uA, VG: "vg0", Name: "v2", Pool: "pool0", SizeBytes: 1 << 20})
			return h.do(CmdSnapshotCreate, SnapshotCreate{UUID: h.uuid(), Origin: VolumeRef{UUID: uA}, Name: "s2"})
		}},
		{name: "revert", run: cmd(CmdVolumeRevert, VolumeRevert{Volume: v1Ref, Snapshot: VolumeRef{VG: "vg0", Name: "s1"}}),
			check: func(t *testing.T, h *harness, _ fixture, r *Result) {
				if v := h.volume(v1Ref); v.State != VolumeReverting || len(r.Intents) != 2 {
					t.Fatalf("volume %+v result %v", v, r)
				}
			}},
		{name: "revert to a non-snapshot", run: func(h *harness, fx fixture) *Result {
			return h.do(CmdVolumeRevert, VolumeRevert{Volume: VolumeRef{UUID: fx.s1}, Snapshot: v1Ref})
		}, code: CodeInvalid},
		{name: "revert to unknown", run: cmd(CmdVolumeRevert, VolumeRevert{Volume: v1Ref, Snapshot: VolumeRef{UUID: uA}}), code: CodeNotFound},
		{name: "revert while reverting", run: func(h *harness, _ fixture) *Result {
			h.ok(CmdVolumeRevert, VolumeRevert{Volume: v1Ref, Snapshot: VolumeRef{VG: "vg0", Name: "s1"}})
			return h.do(CmdVolumeRevert, VolumeRevert{Volume: v1Ref, Snapshot: VolumeRef{VG: "vg0", Name: "s1"}})
		}, code: CodeConflict},

		// envelope
		{name: "unknown command", run: cmd("volume_frobnicate", struct{}{}), code: CodeInvalid},
		{name: "unknown payload field", run: cmd(CmdVolumeDelete, map[string]any{"volume": map[string]string{"vg": "vg0", "name": "v1"}, "force": true}), code: CodeInvalid},
		{name: "malformed entry", run: func(h *harness, _ fixture) *Result {
			h.index++
			return h.f.ApplyCommand(h.index, []byte("{not json"))
		}, code: CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			fx := newFixture(h)
			h.checkRefused = true
			r := c.run(h, fx)
			if c.code == "" && r.Err != nil {
				t.Fatalf("want success, got %v", r)
			}
			if c.code != "" {
				if r.Err == nil || r.Err.Code != c.code {
					t.Fatalf("want %s, got %v", c.code, r)
				}
			}
			checkInvariants(t, h.f)
			if c.check != nil {
				c.check(t, h, fx, r)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
