package apitest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/pki"
	"github.com/thinraft/thinraft/cluster/raftnode"
	"github.com/thinraft/thinraft/metadata"
)

// Node is one running node.
type Node struct {
	ID       string
	Raft     *raftnode.Node
	FSM      *metadata.FSM
	API      *api.Server
	APIAddr  string
	Identity *pki.Identity
	served   chan error
}

// Cluster is a set of in-process nodes.
type Cluster struct {
	Secrets
	t    testing.TB
	logs *LogBuffer

	mu    sync.Mutex
	nodes map[string]*Node
}

// Start runs n voters n1..nN, waits for a leader and registers every node
// in the metadata (node_join with its API address), as membership would.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	base := t.TempDir()
	c := &Cluster{Secrets: NewSecrets(t, "apitest"), t: t, logs: &LogBuffer{}, nodes: map[string]*Node{}}
	t.Cleanup(func() {
		for _, id := range c.IDs() {
			c.Kill(id)
		}
		c.logs.LogIfFailed(t, "raft log")
	})
	var peers []raftnode.Peer
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		node := c.startNode(id, filepath.Join(base, id))
		peers = append(peers, raftnode.Peer{ID: id, Addr: node.Raft.Addr(), Voter: true})
	}
	for _, id := range c.IDs() {
		if err := c.Node(id).Raft.Bootstrap(peers...); err != nil {
			t.Fatalf("bootstrap %s: %v", id, err)
		}
	}
	for _, id := range c.IDs() {
		nd := c.Node(id)
		c.Apply(metadata.CmdNodeJoin, metadata.NodeJoin{ID: id, Name: id, Addr: nd.Raft.Addr(), APIAddr: nd.APIAddr, Voter: true})
	}
	c.Converge()
	return c
}

// Identity issues a node identity of the cluster CA.
func (c *Cluster) Identity(id string) *pki.Identity {
	b, err := c.CA.IssueNode(id, nil, time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	ident, err := pki.NewIdentity(b, c.CA.Cert)
	if err != nil {
		c.t.Fatal(err)
	}
	return ident
}

func (c *Cluster) startNode(id, dir string) *Node {
	c.t.Helper()
	ident := c.Identity(id)
	fsm := metadata.New(metadata.Options{})
	rn, err := raftnode.New(raftnode.Config{
		ID: id, Dir: dir, Bind: "127.0.0.1:0", Identity: ident, FSM: fsm,
		Timing: raftnode.LoopbackTiming(), LogOutput: c.logs, LogLevel: "info", ApplyTimeout: 10 * time.Second,
		// Group commit as cluster/node runs it, so concurrent calls in
		// these tests share log entries as they do in production.
		Pack: metadata.PackCommands,
	})
	if err != nil {
		c.t.Fatalf("start %s: %v", id, err)
	}
	srv, err := api.New(api.Config{NodeID: id, Applier: rn, FSM: fsm, Identity: ident,
		TokenHashes: []string{api.HashToken(c.Token)}, ForwardTimeout: 2 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	nd := &Node{ID: id, Raft: rn, FSM: fsm, API: srv, APIAddr: ln.Addr().String(), Identity: ident, served: make(chan error, 1)}
	go func() { nd.served <- srv.Serve(ln) }()
	c.mu.Lock()
	c.nodes[id] = nd
	c.mu.Unlock()
	return nd
}

// Kill stops a node abruptly: its API drops connections, Raft shuts down.
func (c *Cluster) Kill(id string) {
	c.mu.Lock()
	nd := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if nd == nil {
		return
	}
	_ = nd.API.Close()
	if err := <-nd.served; err != nil {
		c.t.Errorf("serve %s: %v", id, err)
	}
	if err := nd.Raft.Shutdown(); err != nil {
		c.t.Errorf("shutdown %s: %v", id, err)
	}
}

// Node returns a running node (nil if not running).
func (c *Cluster) Node(id string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// IDs lists running nodes, sorted.
func (c *Cluster) IDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id := range c.nodes {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Endpoints lists the API addresses of running nodes.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, id := range c.IDs() {
		out = append(out, c.Node(id).APIAddr)
	}
	return out
}

// Leader waits until the running nodes agree on a leader among them.
func (c *Cluster) Leader() *Node {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var lead string
		agree := true
		for _, id := range c.IDs() {
			l, _ := c.Node(id).Raft.Leader()
			if l == "" || (lead != "" && l != lead) {
				agree = false
				break
			}
			lead = l
		}
		if agree && lead != "" {
			if nd := c.Node(lead); nd != nil && nd.Raft.IsLeader() {
				return nd
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no agreed leader among %v", c.IDs())
	return nil
}

// Follower returns a running node that is not the leader.
func (c *Cluster) Follower() *Node {
	c.t.Helper()
	l := c.Leader()
	for _, id := range c.IDs() {
		if id != l.ID {
			return c.Node(id)
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// Apply commits a command directly through the leader (as an agent or
// the membership code would), retrying across elections, and fails the
// test if the FSM refuses it.
func (c *Cluster) Apply(typ metadata.CommandType, payload any) *metadata.Result {
	c.t.Helper()
	data, err := metadata.Encode(typ, time.Now(), payload)
	if err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := c.Leader()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := l.Raft.Apply(ctx, data)
		cancel()
		if err == nil {
			res := r.Response.(*metadata.Result)
			if res.Err != nil {
				c.t.Fatalf("apply %s: %v", typ, res.Err)
			}
			return res
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("apply %s: %v", typ, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CompleteIntents completes the pool's whole pending queue as one batch,
// as its agent would after executing it, and returns the completed ids.
func (c *Cluster) CompleteIntents(pool string) []string {
	c.t.Helper()
	q := c.Leader().FSM.PendingIntents(pool)
	if len(q) == 0 {
		return nil
	}
	ids := make([]string, len(q))
	for i, in := range q {
		ids[i] = in.ID
	}
	c.Apply(metadata.CmdIntentComplete, metadata.IntentComplete{Pool: pool, FromTxn: q[0].FromTxn, Intents: ids})
	return ids
}

// AbandonIntents abandons the given intents of a pool with reason.
func (c *Cluster) AbandonIntents(pool, reason string, ids ...string) {
	c.t.Helper()
	c.Apply(metadata.CmdIntentAbandon, metadata.IntentAbandon{Pool: pool, Intents: ids, Reason: reason})
}

// Converge waits until every running node has applied the leader's index.
func (c *Cluster) Converge() {
	c.t.Helper()
	want := c.Leader().FSM.AppliedIndex()
	deadline := time.Now().Add(15 * time.Second)
	for {
		behind := ""
		for _, id := range c.IDs() {
			if got := c.Node(id).FSM.AppliedIndex(); got < want {
				behind = fmt.Sprintf("%s at %d < %d", id, got, want)
			}
		}
		if behind == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no convergence: %s", behind)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
