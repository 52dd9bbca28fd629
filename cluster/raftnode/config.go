package raftnode

import (
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/thinraft/thinraft/cluster/pki"
)

// Timing is the set of Raft timers that decide how fast a dead leader is
// replaced and how easily a slow one is deposed.
type Timing struct {
	// Heartbeat: a follower that hears nothing for a random time in
	// [Heartbeat, 2*Heartbeat] starts an election.
	Heartbeat time.Duration
	// Election: a candidate that has not won after this long retries.
	Election time.Duration
	// LeaderLease: a leader that cannot reach a quorum for this long steps
	// down, failing in-flight applies instead of hanging on them.
	LeaderLease time.Duration
	// Commit: the idle time after which a leader sends a heartbeat just to
	// carry its commit index to followers.
	Commit time.Duration
}

// LANTiming suits real networks and loaded machines: raft's defaults,
// failover in roughly 1-3 s.
func LANTiming() Timing {
	return Timing{Heartbeat: time.Second, Election: time.Second, LeaderLease: 500 * time.Millisecond, Commit: 50 * time.Millisecond}
}

// LoopbackTiming suits clusters on one machine (tests, the multi-process
// harness): failover in well under a second, yet slack enough that a 2-core
// box running a build beside five nodes does not flap. The commit timer is
// short: an AppendEntries without entries costs a follower no disk write, and
// it tells an idle follower of a commit within 2-4 ms, sooner and far
// cheaper than the commit nudge's barrier (which it therefore replaces; cluster
// bench at 100 ops/s: p99 9.8 ms against 17-19 with a 10 ms timer and the
// nudge, node CPU per op 5.0 against 6.2-7.3 ms; at 1,000 ops/s no change).
func LoopbackTiming() Timing {
	return Timing{Heartbeat: 400 * time.Millisecond, Election: 400 * time.Millisecond, LeaderLease: 300 * time.Millisecond, Commit: 2 * time.Millisecond}
}

// Config describes one Raft node.
type Config struct {
	// ID is the node id: the Raft server id, and the name in Identity's
	// certificate (they must agree).
	ID string
	// Dir is the node's Raft data directory (see doc.go for its layout).
	Dir string
	// Bind is the listen address ("127.0.0.1:0" for an ephemeral port).
	Bind string
	// Advertise is the address peers dial; "" means the bound address.
	Advertise string
	// Identity is the node's certificate, key and cluster CA.
	Identity *pki.Identity
	// FSM is the replicated state machine.
	FSM raft.FSM

	// Timing defaults to LANTiming.
	Timing Timing
	// SnapshotThreshold is the number of log entries since the last
	// snapshot that triggers the next (checked every SnapshotInterval).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// TrailingLogs is how many entries stay in the log behind a snapshot,
	// so a briefly lagging follower catches up from the log instead of a
	// full snapshot install.
	TrailingLogs uint64
	// SnapshotRetain is how many snapshots are kept on disk.
	SnapshotRetain int
	// MaxAppendEntries caps the entries per AppendEntries RPC (and so the
	// batch raft applies at once under load). raft allows at most 1024.
	// Default: DefaultMaxAppendEntries, or DefaultPackedMaxAppendEntries
	// with Pack.
	MaxAppendEntries int
	// ApplyTimeout bounds Apply, Barrier and membership changes whose
	// context carries no deadline.
	ApplyTimeout time.Duration

	// Pack, if set, turns on group commit (group.go): commands that wait
	// while GroupInFlight entries are in raft go together as one entry
	// that Pack builds and the FSM answers with a MultiResponse.
	// GroupMaxBytes and GroupMaxCmds bound one packed entry.
	Pack          Packer
	GroupInFlight int
	GroupMaxBytes int
	GroupMaxCmds  int

	// Faults, if set, wraps the transport in a FaultLayer (tests).
	Faults *Faults

	// LogOutput receives raft's log (default os.Stderr); LogLevel is an
	// hclog level name (default "warn").
	LogOutput io.Writer
	LogLevel  string
}

// Defaults for the zero values in Config.
const (
	DefaultSnapshotThreshold = 8192
	DefaultSnapshotInterval  = 2 * time.Minute
	DefaultTrailingLogs      = 10240
	DefaultSnapshotRetain    = 2
	DefaultMaxAppendEntries  = 512
	DefaultApplyTimeout      = 10 * time.Second
	// DefaultPackedMaxAppendEntries is the cap with group commit. raft
	// allocates each AppendEntries' entry slice and each apply batch at
	// the cap's capacity however few entries they carry (4 KiB each at
	// 512): with one packed entry in flight they carry one or two, and at
	// 1,000 ops/s those slices were 15% of the leader's allocations, so
	// of its garbage collections. A packed entry carries up to
	// GroupMaxCmds commands, and a follower catching up takes 64 entries
	// per pipelined RPC.
	DefaultPackedMaxAppendEntries = 64
)

func (c *Config) fill() error {
	if err := pki.ValidateName(c.ID); err != nil {
		return fmt.Errorf("raftnode: node id: %w", err)
	}
	if c.Dir == "" {
		return fmt.Errorf("raftnode: node %s: no data directory", c.ID)
	}
	if c.FSM == nil {
		return fmt.Errorf("raftnode: node %s: no FSM", c.ID)
	}
	if c.Identity == nil {
		return fmt.Errorf("raftnode: node %s: no TLS identity", c.ID)
	}
	if c.Identity.Role != pki.RoleNode || c.Identity.Name != c.ID {
		// A node running under another node's certificate would be
		// addressed by one id and authenticated as another.
		return fmt.Errorf("raftnode: node %s: certificate names %s %q", c.ID, c.Identity.Role, c.Identity.Name)
	}
	if c.Bind == "" {
		c.Bind = "127.0.0.1:0"
	}
	if c.Timing == (Timing{}) {
		c.Timing = LANTiming()
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	if c.SnapshotRetain == 0 {
		c.SnapshotRetain = DefaultSnapshotRetain
	}
	if c.MaxAppendEntries == 0 {
		c.MaxAppendEntries = DefaultMaxAppendEntries
		if c.Pack != nil {
			c.MaxAppendEntries = DefaultPackedMaxAppendEntries
		}
	}
	if c.GroupInFlight <= 0 {
		c.GroupInFlight = DefaultGroupInFlight
	}
	if c.GroupMaxBytes <= 0 {
		c.GroupMaxBytes = DefaultGroupMaxBytes
	}
	if c.GroupMaxCmds <= 0 {
		c.GroupMaxCmds = DefaultGroupMaxCmds
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = DefaultApplyTimeout
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	return nil
}

func (c *Config) raftConfig(logger hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.Logger = logger
	rc.LocalID = raft.ServerID(c.ID)
	rc.ProtocolVersion = raft.ProtocolVersionMax
	rc.HeartbeatTimeout = c.Timing.Heartbeat
	rc.ElectionTimeout = c.Timing.Election
	rc.LeaderLeaseTimeout = c.Timing.LeaderLease
	rc.CommitTimeout = c.Timing.Commit
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	rc.MaxAppendEntries = c.MaxAppendEntries
	// BatchApplyCh sizes the apply channel to MaxAppendEntries, so one
	// leader loop iteration drains that many concurrent Applies into one
	// disk write and one AppendEntries round.
	rc.BatchApplyCh = true
	// A node told it has been removed stops; it would otherwise keep
	// campaigning and be refused by every peer.
	rc.ShutdownOnRemove = true
	return rc
}
