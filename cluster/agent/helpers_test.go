package agent

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/pki"
	"github.com/thinraft/thinraft/cluster/raftnode"
	"github.com/thinraft/thinraft/dm/emu"
	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// testCluster is an in-process Raft cluster of metadata FSMs on loopback
// with mutual TLS, as the node process runs it.
type testCluster struct {
	t     testing.TB
	nodes []*raftnode.Node
	fsms  []*metadata.FSM
	// orders are each node's CompletionOrder, as cluster/node applies
	// proposals through it on the leader.
	orders []*CompletionOrder
	// home is the node whose replica the test's own commands read.
	home int
}

func (c *testCluster) fsm() *metadata.FSM { return c.fsms[c.home] }

func newTestCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	ca, err := pki.NewCA("agent-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	c := &testCluster{t: t}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			_ = nd.Shutdown()
		}
	})
	var peers []raftnode.Peer
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("n%d", i+1)
		b, err := ca.IssueNode(id, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ident, err := pki.NewIdentity(b, ca.Cert)
		if err != nil {
			t.Fatal(err)
		}
		fsm := metadata.New(metadata.Options{})
		nd, err := raftnode.New(raftnode.Config{ID: id, Dir: filepath.Join(base, id), Bind: "127.0.0.1:0", Identity: ident,
			FSM: fsm, Timing: raftnode.LoopbackTiming(), LogOutput: io.Discard, ApplyTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
		c.fsms = append(c.fsms, fsm)
		c.orders = append(c.orders, NewCompletionOrder(fsm))
		peers = append(peers, raftnode.Peer{ID: id, Addr: nd.Addr(), Voter: true})
	}
	for _, nd := range c.nodes {
		if err := nd.Bootstrap(peers...); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.nodes[0].WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// Propose implements Proposer with leader forwarding inside the process:
// the command is applied on whichever node leads, retried across a leader
// change.
func (c *testCluster) Propose(ctx context.Context, cmd metadata.Command) (*metadata.Result, error) {
	data, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	for {
		var lastErr error
		for i, nd := range c.nodes {
			if !nd.IsLeader() {
				continue
			}
			res, err := c.orders[i].Apply(ctx, cmd, func() Wait {
				wait := nd.Submit(ctx, data)
				return func(ctx context.Context) (*metadata.Result, error) {
					r, err := wait(ctx)
					if err != nil {
						return nil, err
					}
					res, ok := r.Response.(*metadata.Result)
					if !ok {
						return nil, fmt.Errorf("FSM response %T", r.Response)
					}
					return res, nil
				}
			})
			if err == nil {
				return res, nil
			}
			lastErr = err
		}
		if ctx.Err() != nil {
			return nil, errors.Join(ctx.Err(), lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// do proposes a command and fails the test if it is refused.
func (c *testCluster) do(typ metadata.CommandType, payload any) *metadata.Result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := propose(ctx, c.fsm(), c, time.Now(), typ, payload)
	if err != nil && metadata.CodeOf(err) == metadata.CodeExists && c.appliedBefore(payload) {
		// The proposer retried a command whose first attempt failed
		// indefinitely (leadership lost while it was in flight) but had
		// committed: the second attempt meets the first one's volume.
		return &metadata.Result{UUID: uuidOf(payload)}
	}
	if err != nil {
		c.t.Fatalf("%s: %v", typ, err)
	}
	return r
}

func uuidOf(payload any) string {
	switch p := payload.(type) {
	case metadata.VolumeCreate:
		return p.UUID
	case metadata.SnapshotCreate:
		return p.UUID
	}
	return ""
}

// appliedBefore tells whether payload's volume exists with its name.
func (c *testCluster) appliedBefore(payload any) bool {
	var name string
	switch p := payload.(type) {
	case metadata.VolumeCreate:
		name = p.Name
	case metadata.SnapshotCreate:
		name = p.Name
	default:
		return false
	}
	v, ok := c.fsm().Volume(uuidOf(payload))
	return ok && v.Name == name
}

// doBatch proposes many commands at once through the leader (Raft batches
// them) and fails on any refusal.
func (c *testCluster) doBatch(typ metadata.CommandType, payloads []any) []*metadata.Result {
	c.t.Helper()
	cmds := make([][]byte, len(payloads))
	for i, p := range payloads {
		b, err := metadata.Encode(typ, time.Now(), p)
		if err != nil {
			c.t.Fatal(err)
		}
		cmds[i] = b
	}
	var leader *raftnode.Node
	for _, nd := range c.nodes {
		if nd.IsLeader() {
			leader = nd
		}
	}
	if leader == nil {
		c.t.Fatal("no leader")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs, errs := leader.ApplyBatch(ctx, cmds)
	out := make([]*metadata.Result, len(rs))
	for i := range rs {
		if errs[i] != nil {
			c.t.Fatalf("%s #%d: %v", typ, i, errs[i])
		}
		out[i] = rs[i].Response.(*metadata.Result)
		if out[i].Err != nil {
			c.t.Fatalf("%s #%d: %v", typ, i, out[i].Err)
		}
	}
	return out
}

func newUUID(t testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

const (
	testVG = "vg0"
	mib    = 1 << 20
)

// addPool joins node (index i) and records a pool on it in testVG.
func (c *testCluster) addPool(i int, name string, dataBytes, metaBytes uint64) string {
	c.t.Helper()
	id := fmt.Sprintf("n%d", i+1)
	c.do(metadata.CmdNodeJoin, metadata.NodeJoin{ID: id, Addr: c.nodes[i].Addr()})
	var have bool
	c.fsm().Read(func(v metadata.View) { _, have = v.VG(testVG) })
	if !have {
		c.do(metadata.CmdVGCreate, metadata.VGCreate{Name: testVG, UUID: newUUID(c.t)})
	}
	uuid := newUUID(c.t)
	c.do(metadata.CmdPoolAdd, metadata.PoolAdd{UUID: uuid, VG: testVG, Name: name, Node: id, ChunkSectors: 128,
		DataBytes: dataBytes, MetaBytes: metaBytes, Discards: "passdown"})
	return uuid
}

func (c *testCluster) createVolume(name, pool string, size uint64) string {
	c.t.Helper()
	uuid := newUUID(c.t)
	c.do(metadata.CmdVolumeCreate, metadata.VolumeCreate{UUID: uuid, VG: testVG, Name: name, Pool: pool, SizeBytes: size})
	return uuid
}

func (c *testCluster) snapshot(origin, name string) string {
	c.t.Helper()
	uuid := newUUID(c.t)
	c.do(metadata.CmdSnapshotCreate, metadata.SnapshotCreate{UUID: uuid, Origin: metadata.VolumeRef{UUID: origin}, Name: name})
	return uuid
}

// agentRig is one node's agent on a userspace engine rooted at dir.
type agentRig struct {
	t    testing.TB
	c    *testCluster
	i    int
	dir  string
	eng  *emu.Engine
	fp   *thinpool.Failpoints
	a    *Agent
	stop context.CancelFunc
	done chan error
	log  *logBuf
	cfg  func(*Config)
}

func newAgentRig(t testing.TB, c *testCluster, i int, tweak func(*Config)) *agentRig {
	t.Helper()
	r := &agentRig{t: t, c: c, i: i, dir: t.TempDir(), fp: &thinpool.Failpoints{}, log: &logBuf{}, cfg: tweak}
	r.openEngine()
	t.Cleanup(func() {
		r.halt()
		if r.eng != nil {
			_ = r.eng.Close()
		}
		if t.Failed() {
			t.Logf("agent log (node %d):\n%s", i+1, r.log.tail(200))
		}
	})
	return r
}

func (r *agentRig) openEngine() {
	eng, err := emu.New(emu.Options{Dir: filepath.Join(r.dir, "emu")})
	if err != nil {
		r.t.Fatal(err)
	}
	r.eng = eng
}

// start runs a new agent (a new process, as far as the agent knows).
func (r *agentRig) start() {
	r.t.Helper()
	cfg := Config{Node: fmt.Sprintf("n%d", r.i+1), FSM: r.c.fsms[r.i], Proposer: r.c, Control: r.eng,
		Storage: FileStorage{Dir: r.dir}, Failpoints: r.fp, RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if r.cfg != nil {
		r.cfg(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.a, r.stop, r.done = a, cancel, make(chan error, 1)
	go func() { r.done <- a.Run(ctx) }()
}

// halt stops the agent and waits for it.
func (r *agentRig) halt() {
	if r.stop == nil {
		return
	}
	r.stop()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.t.Error("agent did not stop")
	}
	r.stop = nil
}

// crashEngine drops the engine's in-memory state and opens a new one on
// the same files: a reboot of the node whose disks survive.
func (r *agentRig) crashEngine() {
	r.eng.Crash()
	r.openEngine()
}

// waitDrained waits until pool has no pending intents on this node's
// replica and the agent is not in the middle of anything visible.
func (r *agentRig) waitDrained(pool string, timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	// "Drained" is judged on this node's replica, which may lag: first let
	// it apply everything any replica had applied when the wait began (the
	// test's commands), or a queue that looks empty here may still grow.
	var target uint64
	for _, f := range r.c.fsms {
		target = max(target, f.AppliedIndex())
	}
	// The pool's first reconcile may execute a lone queued intent before
	// the agent has registered the pool: wait for both.
	for r.c.fsms[r.i].AppliedIndex() < target || len(r.c.fsms[r.i].PendingIntents(pool)) > 0 || r.a.pool(pool) == nil {
		if time.Now().After(deadline) {
			r.t.Fatalf("pool %s still has %d pending intents after %v", pool, len(r.c.fsms[r.i].PendingIntents(pool)), timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkKernel compares the kernel pool with the record: transaction ids
// equal, and the kernel's thin ids exactly the record's volumes' thin ids.
func (r *agentRig) checkKernel(pool string) {
	r.t.Helper()
	run := r.a.pool(pool)
	if run == nil {
		r.t.Fatalf("pool %s is not open", pool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ps, err := run.pool.Status(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	u, err := run.pool.Usage(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	var rec metadata.Pool
	var vols []metadata.Volume
	r.c.fsms[r.i].Read(func(v metadata.View) { rec, _ = v.Pool(pool); vols = v.VolumesOfPool(pool) })
	if ps.TransactionID != rec.TxnID {
		r.t.Fatalf("kernel txn %d, record txn %d", ps.TransactionID, rec.TxnID)
	}
	want := map[uint32]string{}
	for _, v := range vols {
		if v.ThinID != 0 {
			want[v.ThinID] = v.Name
		}
	}
	got := map[uint32]bool{}
	for _, vu := range u.Volumes {
		got[vu.ThinID] = true
		if _, ok := want[vu.ThinID]; !ok {
			r.t.Fatalf("kernel has thin %d, which no volume of the record has", vu.ThinID)
		}
	}
	for id, name := range want {
		if !got[id] {
			r.t.Fatalf("volume %s has thin %d, which the kernel lacks", name, id)
		}
	}
}

// logBuf collects an agent's log for failure reports.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) tail(n int) string {
	lines := strings.Split(l.String(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitStats polls the agent's counters until cond holds (or 10 s pass)
// and returns them: the agent counts a batch just after its completion
// committed, so a drained queue can be seen a moment before.
func (r *agentRig) waitStats(cond func(Stats) bool) Stats {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := r.a.Stats()
		if cond(st) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
}
