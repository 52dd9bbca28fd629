package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/cluster/node"
	"github.com/thinraft/thinraft/cluster/pki"
)

// rig is three in-process nodes (node.Run) sharing a fresh CA and token.
type rig struct {
	dir   string
	ca    *pki.CA
	token string
	cfgs  []*node.Config
	stops []context.CancelFunc
	dones []chan error
	// procs is set when the nodes run as processes (-procs).
	procs *procs
}

// freePort returns a loopback port free at the time of the call.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// nodeSettings are the nodes' settings the bench's flags choose.
type nodeSettings struct {
	logLevel    string
	groupCommit int
	pipeline    int
	// reportInterval and reconcileInterval are the agents' periods (0:
	// the defaults).
	reportInterval, reconcileInterval time.Duration
	// debug gives each node a debug listener (-node-profiles).
	debug bool
	// env is added to the node processes' environment (-node-env).
	env []string
}

// startRig writes certificates and configurations for n bootstrap voters
// and runs them; logs (ns.logLevel and above) go to dir/nodes.log or
// dir/<id>.log.

func startRig(dir string, n int, asProcs bool, ns nodeSettings) (*rig, error) {
	ca, err := pki.NewCA("bench-cluster", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := pki.WriteFiles(dir, "ca", ca.Cert, nil); err != nil {
		return nil, err
	}
	r := &rig{dir: dir, ca: ca, token: "bench-token-0123456789abcdef"}
	var peers []node.Peer
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		b, err := ca.IssueNode(id, nil, 24*time.Hour)
		if err != nil {
			return nil, err
		}
		nd := filepath.Join(dir, id)
		if err := b.WriteFiles(nd, "node"); err != nil {
			return nil, err
		}
		rp, err := freePort()
		if err != nil {
			return nil, err
		}
		ap, err := freePort()
		if err != nil {
			return nil, err
		}
		cfg := &node.Config{ID: id, DataDir: filepath.Join(nd, "data"),
			RaftBind: "127.0.0.1:" + rp, APIBind: "127.0.0.1:" + ap,
			CertFile: filepath.Join(nd, "node.crt"), KeyFile: filepath.Join(nd, "node.key"), CAFile: filepath.Join(dir, "ca.crt"),
			TokenHashes: []string{api.HashToken(r.token)}, Engine: node.EngineEmu, Timing: "loopback", LogLevel: ns.logLevel, GroupCommit: ns.groupCommit, Pipeline: ns.pipeline,
			// Periodic reconciles and usage reports at 100,000 volumes
			// are real costs, but not the per-operation cost this bench
			// measures; they stay at the defaults (1 min, 30 s) so a run
			// sees them about as often as production would
			// (-report-interval and -reconcile-interval change them to
			// study them).
			ReportInterval: node.Duration(ns.reportInterval), ReconcileInterval: node.Duration(ns.reconcileInterval),
		}
		if ns.debug {
			dp, err := freePort()
			if err != nil {
				return nil, err
			}
			cfg.DebugBind = "127.0.0.1:" + dp
		}
		r.cfgs = append(r.cfgs, cfg)
		peers = append(peers, node.Peer{ID: id, RaftAddr: cfg.RaftBind, APIAddr: cfg.APIBind})
	}
	if asProcs {
		for _, cfg := range r.cfgs {
			cfg.Bootstrap = peers
		}
		p, err := startProcs(dir, r.cfgs, ns.env)
		if err != nil {
			return nil, err
		}
		r.procs = p
		return r, nil
	}
	lf, err := os.Create(filepath.Join(dir, "nodes.log"))
	if err != nil {
		return nil, err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(ns.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level %q: %w", ns.logLevel, err)
	}
	logger := slog.New(slog.NewJSONHandler(lf, &slog.HandlerOptions{Level: lvl}))
	for _, cfg := range r.cfgs {
		cfg.Bootstrap = peers
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func(cfg *node.Config) { done <- node.Run(ctx, cfg, logger) }(cfg)
		r.stops = append(r.stops, cancel)
		r.dones = append(r.dones, done)
	}
	return r, nil
}

// endpoints lists the API addresses starting at node i: a client's first
// call lands on node i, whose answer names the leader
// (api.HeaderLeader); the client sends its later calls there, as any
// long-lived client of the API does.
func (r *rig) endpoints(i int) []string {
	var out []string
	for k := range r.cfgs {
		out = append(out, r.cfgs[(i+k)%len(r.cfgs)].APIBind)
	}
	return out
}

func (r *rig) client(i int) (*client.Client, error) {
	pool := x509.NewCertPool()
	pool.AddCert(r.ca.Cert)
	return client.New(client.Config{Endpoints: r.endpoints(i), Token: r.token, CA: pool, RetryTimeout: 30 * time.Second})
}

// stop cancels every node and waits for Run to return.
func (r *rig) stop() error {
	if r.procs != nil {
		return r.procs.stop()
	}
	for _, c := range r.stops {
		c()
	}
	var first error
	for i, d := range r.dones {
		select {
		case err := <-d:
			if err != nil && first == nil {
				first = fmt.Errorf("node %s: %w", r.cfgs[i].ID, err)
			}
		case <-time.After(60 * time.Second):
			if first == nil {
				first = fmt.Errorf("node %s did not stop", r.cfgs[i].ID)
			}
		}
	}
	r.stops = nil
	return first
}
