package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/thinraft/thinraft/cluster/agent"
	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/pki"
	"github.com/thinraft/thinraft/cluster/raftnode"
	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/emu"
	"github.com/thinraft/thinraft/dm/kernel"
	"github.com/thinraft/thinraft/metadata"
)

// shutdownGrace bounds each stage of a graceful stop.
const shutdownGrace = 10 * time.Second

// Run runs the node until ctx ends, then stops the agent, the API and Raft
// in that order. It returns the first error that stopped it early.
func Run(ctx context.Context, cfg *Config, logger *slog.Logger) (err error) {
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	lg := logger.With("node", cfg.ID)
	ident, err := pki.LoadIdentity(cfg.CertFile, cfg.KeyFile, cfg.CAFile)
	if err != nil {
		return fmt.Errorf("node %s: %w", cfg.ID, err)
	}
	if ident.Role != pki.RoleNode || ident.Name != cfg.ID {
		return fmt.Errorf("node %s: certificate %s names %s %q", cfg.ID, cfg.CertFile, ident.Role, ident.Name)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("node %s: %w", cfg.ID, err)
	}

	// The engine is opened first: it holds a lock on its directory, so a
	// second process on the same data directory stops here.
	ctl, storage, closeEngine, err := openEngine(cfg, lg)
	if err != nil {
		return fmt.Errorf("node %s: %w", cfg.ID, err)
	}
	defer func() {
		if cerr := closeEngine(); cerr != nil {
			lg.Warn("engine close", "err", cerr)
		}
	}()

	fsm := metadata.New(metadata.Options{})
	faults, dialTLS := setupFaults(ctx, cfg, ident, lg)
	timing := raftnode.LANTiming()
	if cfg.Timing == "loopback" {
		timing = raftnode.LoopbackTiming()
	}
	rcfg := raftnode.Config{
		ID: cfg.ID, Dir: filepath.Join(cfg.DataDir, "raft"), Bind: cfg.RaftBind, Advertise: cfg.RaftAdvertise,
		Identity: ident, FSM: fsm, Timing: timing, Faults: faults,
		LogOutput: slogWriter{lg.With("part", "raft")}, LogLevel: "warn",
	}
	if cfg.GroupCommit >= 0 {
		rcfg.Pack, rcfg.GroupInFlight = metadata.PackCommands, cfg.GroupCommit
	}
	rn, err := raftnode.New(rcfg)
	if err != nil {
		return fmt.Errorf("node %s: %w", cfg.ID, err)
	}
	defer func() {
		if serr := rn.Shutdown(); serr != nil {
			lg.Warn("raft shutdown", "err", serr)
		}
		lg.Info("raft stopped")
	}()

	peers := map[string]string{}
	for _, p := range cfg.Bootstrap {
		peers[p.ID] = p.APIAddr
	}
	apiAddrOf := func(id string) string {
		var addr string
		fsm.Read(func(v metadata.View) {
			if n, ok := v.Node(id); ok {
				addr = n.APIAddr
			}
		})
		if addr == "" {
			addr = peers[id]
		}
		return addr
	}

	ln, err := net.Listen("tcp", cfg.APIBind)
	if err != nil {
		return fmt.Errorf("node %s: api listen: %w", cfg.ID, err)
	}
	apiAdvertise := cfg.APIAdvertise
	if apiAdvertise == "" {
		apiAdvertise = ln.Addr().String()
	}
	nbdSvc, err := listenNBD(cfg, lg)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("node %s: %w", cfg.ID, err)
	}
	dbg, err := startDebug(cfg, lg)
	if err != nil {
		_ = ln.Close()
		nbdSvc.stop()
		return fmt.Errorf("node %s: %w", cfg.ID, err)
	}
	defer dbg.stop()
	// Stopped before the agent on the normal path; this covers the others.
	defer nbdSvc.stop()
	srv, err := api.New(api.Config{NodeID: cfg.ID, Applier: rn, FSM: fsm, Identity: ident, TokenHashes: cfg.TokenHashes,
		PeerAPIAddrs: peers, ForwardTimeout: time.Duration(cfg.ForwardTimeout), DialTLS: dialTLS,
		ErrorLog: log.New(slogWriter{lg.With("part", "api")}, "", 0)})
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("node %s: %w", cfg.ID, err)
	}
	mux := http.NewServeMux()
	order := agent.NewCompletionOrder(fsm)
	(&internal{rn: rn, fsm: fsm, roots: ident.Roots, apiAddr: apiAddrOf, timeout: 10 * time.Second, order: order}).routes(mux)
	mux.Handle("/", srv.Handler())
	hs := &http.Server{Handler: mux, TLSConfig: srv.TLSConfig(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(slogWriter{lg.With("part", "api")}, "", 0)}
	served := make(chan error, 1)
	go func() {
		err := hs.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		served <- err
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if serr := hs.Shutdown(sctx); serr != nil {
			_ = hs.Close()
		}
		_ = srv.Close()
		lg.Info("api stopped")
	}()
	lg.Info("started", "raft", rn.Addr(), "api", apiAdvertise, "engine", cfg.Engine)

	hc := peerClient(ident, dialTLS)
	defer hc.CloseIdleConnections()
	prop := &proposer{rn: rn, hc: hc, apiAddr: apiAddrOf, log: lg, order: order}

	has, err := rn.HasState()
	if err != nil {
		return fmt.Errorf("node %s: %w", cfg.ID, err)
	}
	voter := !cfg.NonVoter
	switch {
	case has:
		lg.Info("restarting from existing raft state")
	case len(cfg.Bootstrap) > 0:
		var ps []raftnode.Peer
		for _, p := range cfg.Bootstrap {
			ps = append(ps, raftnode.Peer{ID: p.ID, Addr: p.RaftAddr, Voter: true})
		}
		if err := rn.Bootstrap(ps...); err != nil {
			return fmt.Errorf("node %s: %w", cfg.ID, err)
		}
		lg.Info("bootstrapped", "peers", len(ps))
	case cfg.Join != "":
		if err := join(ctx, hc, cfg.Join, joinRequest{ID: cfg.ID, RaftAddr: rn.Addr(), APIAddr: apiAdvertise, Voter: voter}, lg); err != nil {
			if ctx.Err() != nil {
				lg.Info("stopping before the join completed")
				return nil
			}
			return fmt.Errorf("node %s: %w", cfg.ID, err)
		}
	default:
		return fmt.Errorf("node %s: no raft state and neither bootstrap nor join configured", cfg.ID)
	}

	// The agent starts only once this replica has caught up with
	// everything committed before this start: the kernel may reflect
	// intents this node executed before it went down, and a reconcile
	// against a replica still replaying its log would take their thin
	// devices for strangers and quarantine the pool. Registering goes
	// through the leader, so once the local FSM has applied the
	// registration it has applied every earlier entry.
	idx, err := register(ctx, prop, metadata.NodeJoin{ID: cfg.ID, Name: cfg.ID, Addr: rn.Addr(), APIAddr: apiAdvertise,
		NBDAddr: nbdSvc.advertise(), Voter: voter}, lg)
	if err == nil {
		err = waitApplied(ctx, fsm, idx)
	}
	if err != nil {
		if ctx.Err() != nil {
			lg.Info("stopping before the agent started")
			return nil
		}
		return fmt.Errorf("node %s: %w", cfg.ID, err)
	}

	a, err := agent.New(agent.Config{Node: cfg.ID, FSM: fsm, Proposer: prop, Control: ctl, Storage: storage,
		ReconcileInterval: time.Duration(cfg.ReconcileInterval), ReportInterval: time.Duration(cfg.ReportInterval),
		MonitorInterval: time.Duration(cfg.MonitorInterval), Pipeline: cfg.Pipeline, Logger: lg.With("part", "agent")})
	if err != nil {
		return fmt.Errorf("node %s: %w", cfg.ID, err)
	}
	actx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(actx) }()
	go (&liveness{self: cfg.ID, rn: rn, fsm: fsm, prop: prop, after: downAfter(timing), log: lg.With("part", "liveness")}).run(actx)
	nbdSvc.start(a.Exports())
	lg.Info("agent started", "applied_index", fsm.AppliedIndex())

	var runErr error
	select {
	case <-ctx.Done():
		lg.Info("stopping")
	case err := <-served:
		runErr = fmt.Errorf("node %s: api: %w", cfg.ID, err)
	case err := <-agentDone:
		agentDone <- err
		runErr = fmt.Errorf("node %s: agent stopped: %v", cfg.ID, err)
	}
	// NBD first, so clients' last writes are answered and flushed while
	// the agent still holds the devices; then the agent: it must not start
	// kernel work it cannot report.
	nbdSvc.stop()
	stopAgent()
	select {
	case err := <-agentDone:
		if err != nil {
			lg.Warn("agent", "err", err)
		}
	case <-time.After(shutdownGrace):
		lg.Error("agent did not stop in time")
	}
	lg.Info("agent stopped")
	return runErr
}

// openEngine opens the dm engine and the pools' backing storage.
func openEngine(cfg *Config, lg *slog.Logger) (dm.Control, agent.Storage, func() error, error) {
	switch cfg.Engine {
	case EngineKernel:
		// Both checks fail at start with the fix, rather than as an open
		// error the agent retries with backoff for ever.
		ctl, err := kernel.Open()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("engine %q: %w (it needs root and the dm-thin-pool module; engine %q runs anywhere)", EngineKernel, err, EngineEmu)
		}
		if _, err := os.Stat("/dev/loop-control"); err != nil {
			_ = ctl.Close()
			return nil, nil, nil, fmt.Errorf("engine %q backs pools with loop devices: %w (modprobe loop)", EngineKernel, err)
		}
		return ctl, agent.NewLoopStorage(cfg.DataDir, 0), ctl.Close, nil
	default:
		eng, err := emu.New(emu.Options{Dir: filepath.Join(cfg.DataDir, "emu"), Logger: lg.With("part", "emu")})
		if err != nil {
			return nil, nil, nil, err
		}
		return eng, agent.FileStorage{Dir: cfg.DataDir}, eng.Close, nil
	}
}

// register records this node in the model with its current addresses
// (node_join is idempotent: a restart re-addresses), retrying until it
// succeeds or ctx ends, and returns the command's index.
func register(ctx context.Context, prop *proposer, nj metadata.NodeJoin, lg *slog.Logger) (uint64, error) {
	data, err := json.Marshal(nj)
	if err != nil {
		return 0, err
	}
	for {
		res, err := prop.Propose(ctx, metadata.Command{Type: metadata.CmdNodeJoin, Time: time.Now().UTC(), Payload: data})
		if err == nil {
			err = res.AsError()
		}
		if err == nil {
			lg.Info("registered", "api", nj.APIAddr, "index", res.Index)
			return res.Index, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		lg.Warn("register", "err", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// waitApplied returns once the local FSM has applied index.
func waitApplied(ctx context.Context, fsm *metadata.FSM, index uint64) error {
	for {
		ch := fsm.Watch()
		if fsm.AppliedIndex() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the local replica to apply index %d: %w", index, ctx.Err())
		}
	}
}

// join asks the member at addr (following leader hints) to add this node.
func join(ctx context.Context, hc *http.Client, addr string, req joinRequest, lg *slog.Logger) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	target := addr
	for {
		var res metadata.Result
		err := postInternal(ctx, hc, target, routeJoin, body, &res)
		if err == nil {
			lg.Info("joined", "via", target, "index", res.Index)
			return nil
		}
		var r *errRetry
		if !errors.As(err, &r) || time.Now().After(deadline) {
			return fmt.Errorf("join via %s: %w", target, err)
		}
		target = addr
		if r.leader != "" {
			target = r.leader
		}
		lg.Warn("join retry", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
