package metadata

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

type raftNode struct {
	id  raft.ServerID
	r   *raft.Raft
	fsm *FSM
	tr  *raft.InmemTransport
}

func raftConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = 50 * time.Millisecond
	c.ElectionTimeout = 50 * time.Millisecond
	c.LeaderLeaseTimeout = 50 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.LogOutput = io.Discard
	c.LogLevel = "ERROR"
	// Compact aggressively so a late node must be sent a snapshot.
	c.TrailingLogs = 10
	c.SnapshotThreshold = 1 << 30 // snapshots only when the test asks
	return c
}

func startRaftNode(t *testing.T, id string) *raftNode {
	t.Helper()
	addr, tr := raft.NewInmemTransport(raft.ServerAddress(id))
	_ = addr
	n := &raftNode{id: raft.ServerID(id), fsm: New(Options{}), tr: tr}
	r, err := raft.NewRaft(raftConfig(n.id), n.fsm, raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore(), tr)
	if err != nil {
		t.Fatal(err)
	}
	n.r = r
	t.Cleanup(func() { _ = r.Shutdown().Error() })
	return n
}

func connect(nodes []*raftNode) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.tr.Connect(raft.ServerAddress(b.id), b.tr)
			}
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRaftReplicas runs the FSM under hashicorp/raft: three voters apply
// the same commands (results come back through the ApplyFuture), end in
// byte-identical states, and a node added after the log was compacted is
// brought up by InstallSnapshot (FSM.Restore) to the same state.
func TestRaftReplicas(t *testing.T) {
	nodes := []*raftNode{startRaftNode(t, "a"), startRaftNode(t, "b"), startRaftNode(t, "c")}
	connect(nodes)
	var cfg raft.Configuration
	for _, n := range nodes {
		cfg.Servers = append(cfg.Servers, raft.Server{ID: n.id, Address: raft.ServerAddress(n.id), Suffrage: raft.Voter})
	}
	if err := nodes[0].r.BootstrapCluster(cfg).Error(); err != nil {
		t.Fatal(err)
	}
	var leader *raftNode
	waitFor(t, "a leader", func() bool {
		for _, n := range nodes {
			if n.r.State() == raft.Leader {
				leader = n
				return true
			}
		}
		return false
	})

	h := newHarness(t) // used only to build commands and uuids
	apply := func(typ CommandType, p any) *Result {
		t.Helper()
		h.now = h.now.Add(time.Millisecond)
		data, err := Encode(typ, h.now, p)
		if err != nil {
			t.Fatal(err)
		}
		f := leader.r.Apply(data, 5*time.Second)
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		r, ok := f.Response().(*Result)
		if !ok {
			t.Fatalf("response %T", f.Response())
		}
		return r
	}
	must := func(r *Result) *Result {
		t.Helper()
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		return r
	}
	must(apply(CmdNodeJoin, NodeJoin{ID: "a", Addr: "a"}))
	must(apply(CmdVGCreate, VGCreate{Name: "vg0", UUID: h.uuid()}))
	pool := h.uuid()
	must(apply(CmdPoolAdd, PoolAdd{UUID: pool, VG: "vg0", Name: "pool0", Node: "a", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 4 << 20}))

	// Pipelined applies: Raft batches them into ApplyBatch calls.
	futures := make([]raft.ApplyFuture, 0, 200)
	for i := range 200 {
		data, _ := Encode(CmdVolumeCreate, h.now, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: fmt.Sprintf("v%d", i), Pool: pool, SizeBytes: 1 << 20})
		futures = append(futures, leader.r.Apply(data, 5*time.Second))
	}
	var ids []string
	for _, f := range futures {
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		r := f.Response().(*Result)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		ids = append(ids, r.Intents...)
	}
	r := must(apply(CmdIntentComplete, IntentComplete{Pool: pool, FromTxn: 0, Intents: ids}))
	if r.Batch != 1 {
		t.Fatalf("completion %v", r)
	}
	if r := apply(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: "v0", Pool: pool, SizeBytes: 1 << 20}); CodeOf(r.AsError()) != CodeExists {
		t.Fatalf("duplicate name: %v", r)
	}

	last := leader.r.AppliedIndex()
	waitFor(t, "replicas to apply everything", func() bool {
		for _, n := range nodes {
			if n.fsm.AppliedIndex() < last {
				return false
			}
		}
		return true
	})
	want := snapshotBytes(t, leader.fsm)
	for _, n := range nodes {
		if !bytes.Equal(want, snapshotBytes(t, n.fsm)) {
			t.Fatalf("replica %s differs", n.id)
		}
	}

	// Compact the log, then add a node: it can only catch up by snapshot.
	if err := leader.r.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		must(apply(CmdVolumeExtend, VolumeExtend{Volume: VolumeRef{VG: "vg0", Name: "v1"}, SizeBytes: uint64(2+i) << 20}))
	}
	if err := leader.r.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	late := startRaftNode(t, "d")
	connect(append(nodes, late))
	if err := leader.r.AddNonvoter(late.id, raft.ServerAddress(late.id), 0, 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	must(apply(CmdVolumeSetTags, VolumeSetTags{Volume: VolumeRef{VG: "vg0", Name: "v2"}, Tags: []string{"after-join"}}))
	last = leader.r.AppliedIndex()
	waitFor(t, "the late node to catch up", func() bool { return late.fsm.AppliedIndex() >= last })
	if !bytes.Equal(snapshotBytes(t, leader.fsm), snapshotBytes(t, late.fsm)) {
		t.Fatal("late node differs")
	}
	if v, ok := late.fsm.VolumeByName("vg0", "v2"); !ok || len(v.Tags) != 1 {
		t.Fatalf("late node's v2: %+v", v)
	}
	stats := late.r.Stats()
	t.Logf("late node: last snapshot index %s, applied %s", stats["last_snapshot_index"], stats["applied_index"])
	if stats["last_snapshot_index"] == "0" {
		t.Fatal("the late node caught up without a snapshot: Restore was not exercised")
	}
}
