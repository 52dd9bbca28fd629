package raftnode

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Files in a node's data directory.
const (
	fileLog    = "raft.db" // raft-boltdb: log entries and stable state (term, vote)
	dirSnaps   = "snapshots"
	fileNodeID = "node-id" // the id the directory was created for
)

// Node is one member of the Raft cluster: the raft instance, its stores,
// its TLS transport and the bookkeeping for reads and leadership watches.
type Node struct {
	cfg    Config
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	tls    *TLSLayer
	store  *raftboltdb.BoltStore
	snaps  *raft.FileSnapshotStore
	fsm    fsmTracker
	logger hclog.Logger

	// readyTerm is the term in which this node, as leader, last committed
	// a barrier; linearizable reads take the fast path only then.
	readyTerm atomic.Uint64
	barrierMu sync.Mutex
	barrier   *barrierCall

	watch *leaderWatch
	// group is the group committer; nil without Config.Pack.
	group *group

	shutdownOnce sync.Once
	shutdownErr  error
}

// New opens (or creates) the node's data directory, starts its TLS listener
// and starts raft. A fresh node then waits: Bootstrap it, or have the
// leader Join it.
func New(cfg Config) (n *Node, err error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := claimDir(cfg.Dir, cfg.ID); err != nil {
		return nil, err
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "raft/" + cfg.ID,
		Level:  hclog.LevelFromString(cfg.LogLevel),
		Output: cfg.LogOutput,
	})
	n = &Node{cfg: cfg, logger: logger}
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()

	n.store, err = raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.Dir, fileLog),
		// A second process on the same directory fails fast instead of
		// blocking forever on bolt's file lock.
		//
		// NoFreelistSync: bbolt otherwise writes its whole freelist on every
		// commit, and the log's freelist grows as snapshots truncate it; the
		// freelist is rebuilt by a scan at open instead. The hashmap
		// freelist finds free pages without scanning an array. Neither
		// removes an fsync: a commit is as durable as before.
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
	})
	if err != nil {
		return nil, fmt.Errorf("raftnode: open %s: %w", filepath.Join(cfg.Dir, fileLog), err)
	}
	closers = append(closers, n.store.Close)
	logs, err := raft.NewLogCache(1024, n.store)
	if err != nil {
		return nil, fmt.Errorf("raftnode: log cache: %w", err)
	}
	n.snaps, err = raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotRetain, logger.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("raftnode: snapshot store in %s: %w", cfg.Dir, err)
	}

	n.tls, err = NewTLSLayer(cfg.Bind, cfg.Advertise, cfg.Identity)
	if err != nil {
		return nil, err
	}
	var stream raft.StreamLayer = n.tls
	if cfg.Faults != nil {
		stream = NewFaultLayer(n.tls, cfg.ID, cfg.Faults)
	}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		// Timeout bounds every RPC's IO (and dials); snapshot installs
		// scale it with their size inside raft.
		Timeout: 10 * time.Second,
		Logger:  logger.Named("transport"),
	})
	closers = append(closers, n.trans.Close)

	n.fsm = newTracker(cfg.FSM)
	n.raft, err = raft.NewRaft(cfg.raftConfig(logger), n.fsm, logs, n.store, n.snaps, n.trans)
	if err != nil {
		return nil, fmt.Errorf("raftnode: start raft %s: %w", cfg.ID, err)
	}
	n.group = newGroup(n)
	n.fsm.nudgeCommits(n.raft, cfg.ApplyTimeout, cfg.Timing.Commit)
	n.tls.setLookup(n.idsAt)
	n.watch = startLeaderWatch(n)
	return n, nil
}

// claimDir creates dir and records the node id in it, refusing a directory
// created for another id: its log and vote belong to that server, and
// reusing them under a new name would corrupt the cluster's view of both.
func claimDir(dir, id string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("raftnode: %w", err)
	}
	p := filepath.Join(dir, fileNodeID)
	b, err := os.ReadFile(p)
	switch {
	case err == nil:
		if got := string(bytes.TrimSpace(b)); got != id {
			return fmt.Errorf("%w: %s is for node %q, not %q", ErrWrongDir, dir, got, id)
		}
		return nil
	case errors.Is(err, os.ErrNotExist):
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
			return fmt.Errorf("raftnode: %w", err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("raftnode: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("raftnode: %w", err)
	}
}

// HasState reports whether dir holds Raft state (a log, a vote or a
// snapshot): such a node must be restarted, never bootstrapped again.
func (n *Node) HasState() (bool, error) {
	ok, err := raft.HasExistingState(n.store, n.store, n.snaps)
	if err != nil {
		return false, fmt.Errorf("raftnode: %s: %w", n.cfg.Dir, err)
	}
	return ok, nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// Addr is the address peers reach this node's Raft transport at.
func (n *Node) Addr() string { return string(n.trans.LocalAddr()) }

// Raft exposes the underlying instance for what this package does not wrap
// (metrics, debugging). Membership and applies should go through Node.
func (n *Node) Raft() *raft.Raft { return n.raft }

// TLS exposes the node's stream layer (refusal counters, probes).
func (n *Node) TLS() *TLSLayer { return n.tls }

// idsAt returns the ids the latest configuration places at addr, for the
// TLS layer's peer check on dial.
func (n *Node) idsAt(addr raft.ServerAddress) []raft.ServerID {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var ids []raft.ServerID
	for _, s := range f.Configuration().Servers {
		if s.Address == addr {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// Shutdown stops raft, the transport and the stores. It does not leave the
// cluster: a restarted node resumes from its data directory.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() {
		var errs []error
		n.watch.stop()
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft: %w", err))
		}
		if err := n.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("transport: %w", err))
		}
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("log store: %w", err))
		}
		if len(errs) > 0 {
			n.shutdownErr = fmt.Errorf("raftnode: shutdown %s: %w", n.cfg.ID, errors.Join(errs...))
		}
	})
	return n.shutdownErr
}

// Stats is raft's own statistics plus the transport's TLS refusals.
func (n *Node) Stats() map[string]string {
	s := n.raft.Stats()
	count, last := n.tls.Refused()
	s["tls_refused"] = fmt.Sprint(count)
	if last != "" {
		s["tls_last_refusal"] = last
	}
	s["fsm_applied_index"] = fmt.Sprint(n.fsm.applied())
	return s
}
