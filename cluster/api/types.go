package api

import "github.com/thinraft/thinraft/metadata"

// Wire types of the v1 API. Field names are the JSON contract: never rename
// one.

// VGCreateRequest is the body of POST /v1/vgs.
type VGCreateRequest struct {
	// UUID is optional: the leader picks one when it is empty. A client
	// that picks it can retry the create safely (see docs/api.md).
	UUID       string   `json:"uuid,omitempty"`
	Name       string   `json:"name"`
	Tags       []string `json:"tags,omitempty"`
	MaxVolumes int      `json:"max_volumes,omitempty"`
}

// PoolCreateRequest is the body of POST /v1/vgs/{vg}/pools: it records a
// pool on a node (normally the node's agent does this when it adopts one).
type PoolCreateRequest struct {
	// UUID is optional: the leader picks one when it is empty. A client
	// that picks it can retry the create safely (see docs/api.md).
	UUID           string `json:"uuid,omitempty"`
	Name           string `json:"name"`
	Node           string `json:"node"`
	ChunkSectors   uint32 `json:"chunk_sectors"`
	DataBytes      uint64 `json:"data_bytes"`
	MetaBytes      uint64 `json:"meta_bytes"`
	Zero           bool   `json:"zero,omitempty"`
	Discards       string `json:"discards,omitempty"`
	ErrorIfNoSpace bool   `json:"error_if_no_space,omitempty"`
	TxnID          uint64 `json:"txn_id,omitempty"`
}

// VolumeCreateRequest is the body of POST /v1/vgs/{vg}/volumes. Pool is the
// pool's name in the VG or its uuid.
type VolumeCreateRequest struct {
	// UUID is optional: the leader picks one when it is empty. A client
	// that picks it can retry the create safely (see docs/api.md).
	UUID           string   `json:"uuid,omitempty"`
	Name           string   `json:"name"`
	Pool           string   `json:"pool"`
	SizeBytes      uint64   `json:"size_bytes"`
	ReadOnly       bool     `json:"read_only,omitempty"`
	ActivationSkip bool     `json:"activation_skip,omitempty"`
	Tags           []string `json:"tags,omitempty"`
}

// VolumePatchRequest is the body of PATCH /v1/vgs/{vg}/volumes/{name}.
// Absent fields are left alone; present ones are applied in the order
// size, tags, read_only, activation_skip, active, name (one command each,
// not atomically: a refusal stops there and reports what was refused).
type VolumePatchRequest struct {
	SizeBytes *uint64   `json:"size_bytes,omitempty"`
	Tags      *[]string `json:"tags,omitempty"`
	ReadOnly  *bool     `json:"read_only,omitempty"`
	NewName   *string   `json:"new_name,omitempty"`
	// ActivationSkip sets the activation-skip flag (lvchange -k y|n).
	ActivationSkip *bool `json:"activation_skip,omitempty"`
	// Active sets the desired activation (lvchange -a y|n); deactivating a
	// volume an NBD client has open is refused.
	Active *bool `json:"active,omitempty"`
}

// SnapshotCreateRequest is the body of POST .../volumes/{name}/snapshots.
type SnapshotCreateRequest struct {
	// UUID is optional: the leader picks one when it is empty. A client
	// that picks it can retry the create safely (see docs/api.md).
	UUID             string   `json:"uuid,omitempty"`
	Name             string   `json:"name"`
	ReadOnly         bool     `json:"read_only,omitempty"`
	NoActivationSkip bool     `json:"no_activation_skip,omitempty"`
	Tags             []string `json:"tags,omitempty"`
}

// RevertRequest is the body of POST .../volumes/{name}/revert: Snapshot is
// the name (in the same VG) or uuid of a snapshot taken of the volume.
type RevertRequest struct {
	Snapshot string `json:"snapshot"`
}

// Operation states.
const (
	OpPending   = "pending"
	OpDone      = "done"
	OpAbandoned = "abandoned"
)

// Operation is the state of a long operation: the intents one command
// queued. ID is the command's Raft index.
type Operation struct {
	ID    string `json:"id"`
	State string `json:"state"`
	// Reason is why an abandoned operation was abandoned.
	Reason  string            `json:"reason,omitempty"`
	Intents []metadata.Intent `json:"intents"`
}

// Finished reports whether the operation is done or abandoned.
func (o *Operation) Finished() bool { return o != nil && o.State != OpPending }

// VGResponse is a VG.
type VGResponse struct {
	VG metadata.VG `json:"vg"`
}

// VGList is GET /v1/vgs.
type VGList struct {
	VGs []metadata.VG `json:"vgs"`
}

// PoolResponse is a pool.
type PoolResponse struct {
	Pool metadata.Pool `json:"pool"`
}

// PoolList is GET /v1/vgs/{vg}/pools.
type PoolList struct {
	Pools []metadata.Pool `json:"pools"`
}

// VolumeResponse is a volume, with the operation that changes it when the
// request started one. After a finished delete, Volume is absent.
type VolumeResponse struct {
	Volume    *metadata.Volume `json:"volume,omitempty"`
	Operation *Operation       `json:"operation,omitempty"`
}

// VolumeList is one page of GET /v1/vgs/{vg}/volumes; Next is the cursor
// of the next page ("" after the last).
type VolumeList struct {
	Volumes []metadata.Volume `json:"volumes"`
	Next    string            `json:"next,omitempty"`
}

// NodeList is GET /v1/nodes.
type NodeList struct {
	Nodes []metadata.Node `json:"nodes"`
}

// ClusterInfo is GET /v1/cluster, as the answering node sees it.
type ClusterInfo struct {
	// Node is the id of the node that answered.
	Node          string          `json:"node"`
	LeaderID      string          `json:"leader_id"`
	LeaderAPIAddr string          `json:"leader_api_addr,omitempty"`
	AppliedIndex  uint64          `json:"applied_index"`
	Members       []metadata.Node `json:"members"`
	// Raft is the Raft configuration as this node knows it (absent when
	// the Applier cannot tell).
	Raft []RaftServer `json:"raft,omitempty"`
}

// RaftServer is one member of the Raft configuration.
type RaftServer struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Voter bool   `json:"voter"`
}

// ErrorBody is every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an error's code and a one-line message saying what to do.
// Leader is set with not_leader when a leader is known.
type ErrorDetail struct {
	Code    string     `json:"code"`
	Message string     `json:"message"`
	Leader  *LeaderRef `json:"leader,omitempty"`
}

// LeaderRef names the leader in a not_leader error.
type LeaderRef struct {
	ID      string `json:"id"`
	APIAddr string `json:"api_addr,omitempty"`
}
