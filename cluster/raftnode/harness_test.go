package raftnode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/thinraft/thinraft/cluster/pki"
)

// listFSM is the test state machine: the ordered list of commands it has
// applied. A command "reject:..." is refused with an error response, the
// way a real FSM refuses an invalid command without failing the log.
//
// It also knows testPack's packed entries (group commit), answering them
// with a listMulti, and a command "gate" blocks its Apply while the FSM's
// gate channel (if set) is open, holding the entry in flight.
type listFSM struct {
	mu       sync.Mutex
	cmds     []string
	restores atomic.Int64
	gate     atomic.Pointer[chan struct{}]
}

// packPrefix marks testPack's entries.
const packPrefix = "pack\x00"

// testPack is the test FSM's Packer: the commands joined by NUL bytes.
func testPack(cmds [][]byte) []byte {
	parts := make([]string, len(cmds))
	for i, c := range cmds {
		parts[i] = string(c)
	}
	return []byte(packPrefix + strings.Join(parts, "\x00"))
}

// listMulti is listFSM's answer to a packed entry.
type listMulti []any

func (m listMulti) Responses() []any { return m }

func (f *listFSM) Apply(l *raft.Log) any {
	s := string(l.Data)
	if rest, ok := strings.CutPrefix(s, packPrefix); ok {
		var out listMulti
		for _, c := range strings.Split(rest, "\x00") {
			out = append(out, f.applyOne(c))
		}
		return out
	}
	return f.applyOne(s)
}

func (f *listFSM) applyOne(s string) any {
	if strings.HasPrefix(s, "reject:") {
		return fmt.Errorf("rejected %q", s)
	}
	if g := f.gate.Load(); s == "gate" && g != nil {
		<-*g
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, s)
	return len(f.cmds)
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return listSnap(slices.Clone(f.cmds)), nil
}

func (f *listFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var cmds []string
	if err := json.NewDecoder(rc).Decode(&cmds); err != nil {
		return err
	}
	f.mu.Lock()
	f.cmds = cmds
	f.mu.Unlock()
	f.restores.Add(1)
	return nil
}

func (f *listFSM) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds)
}

type listSnap []string

func (s listSnap) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode([]string(s)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (listSnap) Release() {}

// syncBuf collects raft's logs; they are printed only if the test fails
// (raft goroutines may still log after the test returns, when t.Log would
// panic).
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testCluster runs nodes in this process on 127.0.0.1 ephemeral ports.
type testCluster struct {
	t      testing.TB
	ca     *pki.CA
	faults *Faults
	logs   *syncBuf
	tweak  func(*Config)
	base   string

	mu    sync.Mutex
	nodes map[string]*Node
	fsms  map[string]*listFSM
	dirs  map[string]string
	addrs map[string]string
}

func newTestCluster(t testing.TB, tweak func(*Config)) *testCluster {
	t.Helper()
	ca, err := pki.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The base directory is created before the stop cleanup is registered,
	// so it is removed after the nodes have shut down (cleanups run last
	// registered first).
	base := t.TempDir()
	c := &testCluster{
		t: t, ca: ca, base: base, faults: NewFaults(), logs: &syncBuf{}, tweak: tweak,
		nodes: map[string]*Node{}, fsms: map[string]*listFSM{}, dirs: map[string]string{}, addrs: map[string]string{},
	}
	t.Cleanup(func() {
		for _, id := range c.ids() {
			c.stop(id)
		}
		if t.Failed() {
			t.Logf("raft log:\n%s", c.logs.String())
		}
	})
	return c
}

func (c *testCluster) identity(id string) *pki.Identity {
	b, err := c.ca.IssueNode(id, nil, time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	ident, err := pki.NewIdentity(b, c.ca.Cert)
	if err != nil {
		c.t.Fatal(err)
	}
	return ident
}

// start starts node id, reusing its directory and address after a stop so
// it comes back as the same server. A restarted node gets a fresh FSM and
// rebuilds it from its snapshot and log, as a restarted process would.
func (c *testCluster) start(id string) *Node {
	c.t.Helper()
	c.mu.Lock()
	dir, ok := c.dirs[id]
	if !ok {
		dir = filepath.Join(c.base, id)
		c.dirs[id] = dir
	}
	bind := c.addrs[id]
	c.mu.Unlock()
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	fsm := &listFSM{}
	cfg := Config{
		ID: id, Dir: dir, Bind: bind, Identity: c.identity(id), FSM: fsm,
		Timing: LoopbackTiming(), Faults: c.faults, LogOutput: c.logs, LogLevel: "info",
		ApplyTimeout: 10 * time.Second,
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	var n *Node
	var err error
	// The old listener's port can linger briefly after a stop.
	for i := 0; i < 50; i++ {
		if n, err = New(cfg); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("start %s: %v", id, err)
	}
	c.mu.Lock()
	c.nodes[id], c.fsms[id], c.addrs[id] = n, fsm, n.Addr()
	c.mu.Unlock()
	return n
}

func (c *testCluster) stop(id string) {
	c.mu.Lock()
	n := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if n != nil {
		if err := n.Shutdown(); err != nil {
			c.t.Errorf("shutdown %s: %v", id, err)
		}
	}
}

func (c *testCluster) node(id string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

func (c *testCluster) fsm(id string) *listFSM {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fsms[id]
}

// ids lists running nodes, sorted.
func (c *testCluster) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id := range c.nodes {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// bootstrap starts n1..nN and bootstraps them all as voters.
func (c *testCluster) bootstrap(n int) []string {
	c.t.Helper()
	var ids []string
	var peers []Peer
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		node := c.start(id)
		ids = append(ids, id)
		peers = append(peers, Peer{ID: id, Addr: node.Addr(), Voter: true})
	}
	for _, id := range ids {
		if err := c.node(id).Bootstrap(peers...); err != nil {
			c.t.Fatalf("bootstrap %s: %v", id, err)
		}
	}
	return ids
}

// leader waits until every running node in among agrees on one leader
// that is itself among them, and returns it.
func (c *testCluster) leader(among ...string) *Node {
	c.t.Helper()
	if len(among) == 0 {
		among = c.ids()
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var lead string
		agree := true
		for _, id := range among {
			n := c.node(id)
			if n == nil {
				continue
			}
			l, _ := n.Leader()
			if l == "" || (lead != "" && l != lead) {
				agree = false
				break
			}
			lead = l
		}
		if agree && lead != "" && slices.Contains(among, lead) {
			if n := c.node(lead); n != nil && n.IsLeader() {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range among {
		if n := c.node(id); n != nil {
			l, _ := n.Leader()
			c.t.Logf("%s: state %v leader %q term %d", id, n.Raft().State(), l, n.Raft().CurrentTerm())
		}
	}
	c.t.Fatalf("no agreed leader among %v", among)
	return nil
}

// apply commits cmd on the current leader, retrying across elections, and
// returns the FSM response.
func (c *testCluster) apply(cmd string, among ...string) any {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := c.leader(among...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := l.Apply(ctx, []byte(cmd))
		cancel()
		if err == nil {
			return r.Response
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("apply %q: %v", cmd, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// converge waits until the FSMs of ids all equal want.
func (c *testCluster) converge(want []string, ids ...string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		bad := ""
		for _, id := range ids {
			if got := c.fsm(id).list(); !slices.Equal(got, want) {
				bad = fmt.Sprintf("%s has %d commands (want %d)", id, len(got), len(want))
				break
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no convergence: %s", bad)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}
