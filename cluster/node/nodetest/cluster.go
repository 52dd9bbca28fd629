package nodetest

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/api/apitest"
	"github.com/thinraft/thinraft/cluster/node"
	"github.com/thinraft/thinraft/cluster/pki"
)

// stopWait bounds a node's shutdown after its context ends; node.Run
// bounds each stage by ten seconds, so this is only reached when one hangs.
const stopWait = 30 * time.Second

// Options shape every node of a Cluster.
type Options struct {
	// Dir holds the CA file and one directory per node (certificate, key
	// and data_dir with raft/, pools/ and emu/); "" is t.TempDir().
	Dir string
	// NBD gives each node an NBD listener on a free loopback port.
	NBD bool
	// ReportInterval is the agents' usage report interval (zero: the
	// agent's default).
	ReportInterval time.Duration
	// LogLevel is the level of the captured logs (zero: info).
	LogLevel slog.Level
	// Configure, when set, edits each node's configuration as Add makes it
	// (engine, other intervals, fault file, ...).
	Configure func(*node.Config)
}

// Cluster is a set of in-process nodes sharing a CA and an API token.
// Nodes are added (Add), given a bootstrap set or a join address, and then
// started and stopped by id; a stopped node keeps its configuration and
// data, so Start brings it back as a restart.
type Cluster struct {
	apitest.Secrets
	t    testing.TB
	dir  string
	opts Options
	logs *apitest.LogBuffer

	mu   sync.Mutex
	cfgs map[string]*node.Config
	runs map[string]*run
}

type run struct {
	cancel context.CancelFunc
	done   chan error
}

// New makes an empty cluster. Its cleanup stops every running node and,
// if the test failed, prints the end of the nodes' logs.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	c := &Cluster{Secrets: apitest.NewSecrets(t, "nodetest"), t: t, dir: dir, opts: opts,
		logs: &apitest.LogBuffer{}, cfgs: map[string]*node.Config{}, runs: map[string]*run{}}
	if err := pki.WriteFiles(dir, "ca", c.CA.Cert, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, id := range c.Running() {
			c.Stop(id)
		}
		c.logs.LogIfFailed(t, "node logs")
	})
	return c
}

// Start makes a cluster of n nodes n1..nN that bootstrap together and
// starts them all.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := New(t, opts)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
		c.Add(ids[i])
	}
	c.Bootstrap(ids...)
	for _, id := range ids {
		c.Start(id)
	}
	return c
}

// Add issues node id's certificate, picks its ports and returns its
// configuration, which the caller may edit before the first Start (Join,
// NonVoter, ...). It does not start the node.
func (c *Cluster) Add(id string) *node.Config {
	c.t.Helper()
	b, err := c.CA.IssueNode(id, nil, time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	nd := filepath.Join(c.dir, id)
	if err := b.WriteFiles(nd, "node"); err != nil {
		c.t.Fatal(err)
	}
	cfg := &node.Config{ID: id, DataDir: filepath.Join(nd, "data"),
		RaftBind: c.freeAddr(), APIBind: c.freeAddr(),
		CertFile: filepath.Join(nd, "node.crt"), KeyFile: filepath.Join(nd, "node.key"), CAFile: filepath.Join(c.dir, "ca.crt"),
		TokenHashes: []string{api.HashToken(c.Token)}, Timing: "loopback",
		ReportInterval: node.Duration(c.opts.ReportInterval)}
	if c.opts.NBD {
		cfg.NBDBind = c.freeAddr()
	}
	if c.opts.Configure != nil {
		c.opts.Configure(cfg)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfgs[id] != nil {
		c.t.Fatalf("nodetest: node %s added twice", id)
	}
	c.cfgs[id] = cfg
	return cfg
}

// Bootstrap makes the listed nodes the initial peer set of a new cluster:
// each of them lists all of them, as `thinraft cluster init` writes it.
func (c *Cluster) Bootstrap(ids ...string) {
	c.t.Helper()
	peers := make([]node.Peer, len(ids))
	for i, id := range ids {
		cfg := c.Config(id)
		peers[i] = node.Peer{ID: id, RaftAddr: cfg.RaftBind, APIAddr: cfg.APIBind}
	}
	for _, id := range ids {
		c.Config(id).Bootstrap = peers
	}
}

// Config returns node id's configuration (the one Start runs).
func (c *Cluster) Config(id string) *node.Config {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg := c.cfgs[id]
	if cfg == nil {
		c.t.Fatalf("nodetest: no node %s (Add it first)", id)
	}
	return cfg
}

// Logger returns a logger writing into the captured logs, for the code a
// test runs beside the nodes (a driver, a client).
func (c *Cluster) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: c.opts.LogLevel}))
}

// Start runs node id (node.Run in a goroutine) until Stop or the test's
// end. Starting a stopped node restarts it on its data.
func (c *Cluster) Start(id string) {
	c.t.Helper()
	cfg := c.Config(id)
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cancel: cancel, done: make(chan error, 1)}
	c.mu.Lock()
	if c.runs[id] != nil {
		c.mu.Unlock()
		cancel()
		c.t.Fatalf("nodetest: node %s is already running", id)
	}
	c.runs[id] = r
	c.mu.Unlock()
	go func() { r.done <- node.Run(ctx, cfg, c.Logger()) }()
}

// Stop cancels node id's context, the path SIGTERM takes in `thinraft
// agent` and the nearest thing to a kill in-process, and requires Run to
// return nil within 30 s. Stopping a node that is not running does
// nothing.
func (c *Cluster) Stop(id string) {
	c.t.Helper()
	c.mu.Lock()
	r := c.runs[id]
	delete(c.runs, id)
	c.mu.Unlock()
	if r == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			c.t.Errorf("node %s: Run: %v", id, err)
		}
	case <-time.After(stopWait):
		c.t.Errorf("node %s: Run did not return %v after cancel", id, stopWait)
	}
}

// Restart stops node id and starts it again on the same configuration
// and data.
func (c *Cluster) Restart(id string) {
	c.t.Helper()
	c.Stop(id)
	c.Start(id)
}

// Running lists the running nodes, sorted.
func (c *Cluster) Running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.runs))
}

// IDs lists every added node, running or not, sorted.
func (c *Cluster) IDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.cfgs))
}

// freeAddr returns a loopback address whose port was free at the call.
// The node binds it later, so another process could take it in between;
// on loopback in a test run that has not been seen to happen.
func (c *Cluster) freeAddr() string {
	c.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
