package driver_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/cluster/node"
	"github.com/thinraft/thinraft/cluster/pki"
)

// testCluster is three in-process nodes (node.Run) on loopback with agents
// on the userspace engine: the cluster the contract test drives.
type testCluster struct {
	t     *testing.T
	token string
	ca    *pki.CA
	cfgs  []*node.Config
	logs  *lockedBuf

	mu      sync.Mutex
	cancels map[string]context.CancelFunc
	dones   map[string]chan error
}

type lockedBuf struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuf) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.b) > n {
		return string(l.b[len(l.b)-n:])
	}
	return string(l.b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// newTestCluster starts n nodes that bootstrap together. Agents report
// usage every second so the driver's stats follow writes quickly.
func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	ca, err := pki.NewCA("driver-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := pki.WriteFiles(dir, "ca", ca.Cert, nil); err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, token: "driver-test-token-0123456789", ca: ca, logs: &lockedBuf{},
		cancels: map[string]context.CancelFunc{}, dones: map[string]chan error{}}
	var peers []node.Peer
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		b, err := ca.IssueNode(id, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		nd := filepath.Join(dir, id)
		if err := b.WriteFiles(nd, "node"); err != nil {
			t.Fatal(err)
		}
		cfg := &node.Config{ID: id, DataDir: filepath.Join(nd, "data"),
			RaftBind: freeAddr(t), APIBind: freeAddr(t),
			CertFile: filepath.Join(nd, "node.crt"), KeyFile: filepath.Join(nd, "node.key"), CAFile: filepath.Join(dir, "ca.crt"),
			TokenHashes: []string{api.HashToken(c.token)}, Timing: "loopback", LogLevel: "info",
			ReportInterval: node.Duration(time.Second)}
		cfg.NBDBind = freeAddr(t)
		peers = append(peers, node.Peer{ID: id, RaftAddr: cfg.RaftBind, APIAddr: cfg.APIBind})
		c.cfgs = append(c.cfgs, cfg)
	}
	for _, cfg := range c.cfgs {
		cfg.Bootstrap = peers
	}
	t.Cleanup(func() {
		for _, cfg := range c.cfgs {
			c.stop(cfg.ID)
		}
		if t.Failed() {
			t.Logf("node logs (tail):\n%s", c.logs.tail(16<<10))
		}
	})
	for _, cfg := range c.cfgs {
		c.start(cfg)
	}
	return c
}

func (c *testCluster) start(cfg *node.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	lg := slog.New(slog.NewTextHandler(io.MultiWriter(c.logs), &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() { done <- node.Run(ctx, cfg, lg) }()
	c.mu.Lock()
	c.cancels[cfg.ID], c.dones[cfg.ID] = cancel, done
	c.mu.Unlock()
}

func (c *testCluster) stop(id string) {
	c.mu.Lock()
	cancel, done := c.cancels[id], c.dones[id]
	delete(c.cancels, id)
	delete(c.dones, id)
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("node %s: %v", id, err)
		}
	case <-time.After(30 * time.Second):
		c.t.Errorf("node %s did not stop within 30 s", id)
	}
}

func (c *testCluster) client() *client.Client {
	c.t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.Cert)
	var eps []string
	for _, cfg := range c.cfgs {
		eps = append(eps, cfg.APIBind)
	}
	cl, err := client.New(client.Config{Endpoints: eps, Token: c.token, CA: pool, RetryTimeout: 20 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// ready waits until every node is registered and a leader is known.
func (c *testCluster) ready(ctx context.Context, cl *client.Client) {
	c.t.Helper()
	for {
		ns, err := cl.Nodes(ctx)
		if err == nil && len(ns) == len(c.cfgs) {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("cluster not ready: %v (last error %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
