package metadata

import (
	"slices"
	"time"
)

// NodeState is a node's membership state as the cluster sees it.
type NodeState string

// Node states. A node that has left keeps its record (its id is never
// reused for a different machine) but owns nothing.
const (
	NodeUp   NodeState = "up"
	NodeDown NodeState = "down"
	NodeLeft NodeState = "left"
)

// Node is one thinraft agent: a Raft member (voter or not) that owns the
// pools on its machine.
type Node struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	APIAddr string `json:"api_addr"`
	// NBDAddr is where NBD clients reach the node's exports ("" when the
	// node serves none).
	NBDAddr  string    `json:"nbd_addr,omitempty"`
	Voter    bool      `json:"voter"`
	State    NodeState `json:"state"`
	JoinedAt time.Time `json:"joined_at"`
	// UpdatedAt is the time of the last state change.
	UpdatedAt time.Time `json:"updated_at"`
}

// VG is a cluster-wide named group of pools and volumes (LVM's volume
// group, stretched over nodes). Pools and volumes share its namespace.
type VG struct {
	Name      string    `json:"name"`
	UUID      string    `json:"uuid"`
	CreatedAt time.Time `json:"created_at"`
	Tags      []string  `json:"tags,omitempty"`
	// MaxVolumes is the quota on volumes and snapshots in the VG; 0 means
	// no limit (LVM's vgcreate --maxlogicalvolumes).
	MaxVolumes int `json:"max_volumes,omitempty"`
}

// PoolState is whether a pool accepts changes.
type PoolState string

// Pool states.
const (
	PoolActive PoolState = "active"
	// PoolQuarantined: the agent found kernel state it could not explain;
	// changes are refused until an operator lifts it (docs/repair.md).
	PoolQuarantined PoolState = "quarantined"
)

// Usage is a pool's last reported space usage, in pool blocks (data) and
// metadata blocks, as the kernel's status line gives them.
type Usage struct {
	DataUsed   uint64    `json:"data_used"`
	DataTotal  uint64    `json:"data_total"`
	MetaUsed   uint64    `json:"meta_used"`
	MetaTotal  uint64    `json:"meta_total"`
	Mode       string    `json:"mode,omitempty"`
	ReportedAt time.Time `json:"reported_at,omitzero"`
}

// Finding is something the agent found in a pool's kernel state that the
// record does not explain (thinpool.Finding, carried over Raft).
type Finding struct {
	Kind      string    `json:"kind"`
	ThinID    uint32    `json:"thin_id,omitempty"`
	KernelTxn uint64    `json:"kernel_txn"`
	RecordTxn uint64    `json:"record_txn"`
	Detail    string    `json:"detail"`
	At        time.Time `json:"at"`
}

// Pool is one dm-thin pool, living on one node.
type Pool struct {
	UUID           string `json:"uuid"`
	VG             string `json:"vg"`
	Name           string `json:"name"`
	Node           string `json:"node"`
	ChunkSectors   uint32 `json:"chunk_sectors"`
	DataBytes      uint64 `json:"data_bytes"`
	MetaBytes      uint64 `json:"meta_bytes"`
	Zero           bool   `json:"zero"`
	Discards       string `json:"discards"`
	ErrorIfNoSpace bool   `json:"error_if_no_space"`
	// TxnID is the kernel transaction id after the last COMPLETED intent.
	TxnID uint64 `json:"txn_id"`
	// NextThinID is where the next thin id search starts.
	NextThinID uint32 `json:"next_thin_id"`
	// LastBatch numbers the completions: each completed batch takes the
	// next number.
	LastBatch uint64    `json:"last_batch"`
	State     PoolState `json:"state"`
	Usage     Usage     `json:"usage"`
	Findings  []Finding `json:"findings,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// VolumeState is where a volume is in its lifecycle.
type VolumeState string

// Volume states.
const (
	// VolumeCreating: the create_thin or create_snap intent is pending.
	VolumeCreating VolumeState = "creating"
	VolumeActive   VolumeState = "active"
	// VolumeReverting: a revert's delete and create_snap intents are pending.
	VolumeReverting VolumeState = "reverting"
	// VolumeDeleting: the delete intent is pending; the record goes when it
	// completes.
	VolumeDeleting VolumeState = "deleting"
	// VolumeFailed: the intent that would have given the volume a thin
	// device was abandoned; it has no thin device (ThinID 0). It can be
	// deleted, or reverted to one of its snapshots.
	VolumeFailed VolumeState = "failed"
)

// Volume is a thin volume or a thin snapshot.
type Volume struct {
	UUID string `json:"uuid"`
	VG   string `json:"vg"`
	Name string `json:"name"`
	// Pool is the pool's uuid.
	Pool string `json:"pool"`
	// ThinID is the volume's thin device id in its pool; 0 means none
	// (failed, or between a revert's two intents).
	ThinID    uint32 `json:"thin_id"`
	SizeBytes uint64 `json:"size_bytes"`
	// Origin is the uuid of the volume this one was snapshotted from ("" if
	// none). It is history: the origin may since have been deleted.
	Origin         string      `json:"origin,omitempty"`
	IsSnapshot     bool        `json:"is_snapshot"`
	State          VolumeState `json:"state"`
	ReadOnly       bool        `json:"read_only"`
	ActivationSkip bool        `json:"activation_skip"`
	// Active is the desired activation (LVM's -a y|n): the pool's agent
	// keeps an active volume's thin device up and exported over NBD.
	Active bool `json:"active"`
	// Open: an NBD client had the volume's export open at the pool
	// agent's last report (LVM's attr 'o'). Deactivating or deleting an
	// open volume is refused.
	Open      bool      `json:"open"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Tags      []string  `json:"tags,omitempty"`
	// Reason says why the volume failed.
	Reason string `json:"reason,omitempty"`
	// ExclusiveBytes and SharedBytes are from the last usage report.
	ExclusiveBytes uint64 `json:"exclusive_bytes"`
	SharedBytes    uint64 `json:"shared_bytes"`
}

// Op is an intent's kernel operation (thinpool.Op).
type Op string

// Intent operations.
const (
	OpCreateThin Op = "create_thin"
	OpCreateSnap Op = "create_snap"
	OpDelete     Op = "delete"
)

// IntentState is where an intent is in its lifecycle.
type IntentState string

// Intent states: pending -> done | abandoned.
const (
	IntentPending   IntentState = "pending"
	IntentDone      IntentState = "done"
	IntentAbandoned IntentState = "abandoned"
)

// Intent is one queued kernel operation on a pool: one step of the
// transaction protocol. It moves the pool's transaction id from FromTxn to
// FromTxn+1.
type Intent struct {
	// ID is "<raft index>-<n>": the n-th intent of the command at that index.
	ID   string `json:"id"`
	Pool string `json:"pool"`
	Op   Op     `json:"op"`
	// Volume is the uuid of the volume the intent is for.
	Volume string `json:"volume"`
	ThinID uint32 `json:"thin_id"`
	// Origin is the origin's thin id (create_snap).
	Origin uint32 `json:"origin,omitempty"`
	// SizeBytes is the new thin device's virtual size (create_thin,
	// create_snap).
	SizeBytes uint64 `json:"size_bytes,omitempty"`
	// FromTxn is pool.TxnID + the number of intents queued before this one;
	// it is renumbered when an intent before it is abandoned.
	FromTxn uint64      `json:"from_txn"`
	State   IntentState `json:"state"`
	Reason  string      `json:"reason,omitempty"`
	// Revert marks the two intents of a revert: they succeed or are
	// abandoned together while both are pending.
	Revert     bool      `json:"revert,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Batch is the pool's batch number of the completion that finished it.
	Batch uint64 `json:"batch,omitempty"`
}

// ToTxn is the pool's transaction id after the intent.
func (in Intent) ToTxn() uint64 { return in.FromTxn + 1 }

// clone returns copies that share nothing mutable with the state: the only
// reference fields are slices, which Apply replaces rather than edits, but
// callers outside the package may edit what they get.
func (n VG) clone() VG         { n.Tags = slices.Clone(n.Tags); return n }
func (p Pool) clone() Pool     { p.Findings = slices.Clone(p.Findings); return p }
func (v Volume) clone() Volume { v.Tags = slices.Clone(v.Tags); return v }
