package metadata

import (
	"encoding/json"
	"fmt"
	"time"
)

// CommandType names a command in the Raft log. The strings are the log
// format: never rename one.
type CommandType string

// Commands. Each has a payload type below named after it.
const (
	CmdNodeJoin     CommandType = "node_join"
	CmdNodeLeave    CommandType = "node_leave"
	CmdNodeSetState CommandType = "node_set_state"

	CmdVGCreate CommandType = "vg_create"
	CmdVGRemove CommandType = "vg_remove"
	CmdVGSet    CommandType = "vg_set"

	CmdPoolAdd          CommandType = "pool_add"
	CmdPoolGrow         CommandType = "pool_grow"
	CmdPoolRemove       CommandType = "pool_remove"
	CmdPoolReportUsage  CommandType = "pool_report_usage"
	CmdPoolQuarantine   CommandType = "pool_quarantine"
	CmdPoolUnquarantine CommandType = "pool_unquarantine"

	CmdVolumeCreate      CommandType = "volume_create"
	CmdVolumeExtend      CommandType = "volume_extend"
	CmdVolumeRename      CommandType = "volume_rename"
	CmdVolumeDelete      CommandType = "volume_delete"
	CmdVolumeSetTags     CommandType = "volume_set_tags"
	CmdVolumeSetReadOnly CommandType = "volume_set_readonly"
	CmdVolumeSetActive   CommandType = "volume_set_active"
	CmdVolumeSetSkip     CommandType = "volume_set_activation_skip"
	CmdSnapshotCreate    CommandType = "snapshot_create"
	CmdVolumeRevert      CommandType = "volume_revert"

	CmdIntentComplete CommandType = "intent_complete"
	CmdIntentAbandon  CommandType = "intent_abandon"
)

// commandTypes lists every command type, never changed: a remembered
// request keeps its type as an index in it (request_table.go).
var commandTypes = [...]CommandType{CmdNodeJoin, CmdNodeLeave, CmdNodeSetState, CmdVGCreate, CmdVGRemove, CmdVGSet, CmdPoolAdd, CmdPoolGrow, CmdPoolRemove, CmdPoolReportUsage, CmdPoolQuarantine, CmdPoolUnquarantine, CmdVolumeCreate, CmdVolumeExtend, CmdVolumeRename, CmdVolumeDelete, CmdVolumeSetTags, CmdVolumeSetReadOnly, CmdVolumeSetActive, CmdVolumeSetSkip, CmdSnapshotCreate, CmdVolumeRevert, CmdIntentComplete, CmdIntentAbandon}

// typeCode returns t's index in commandTypes, false if t names no command.
func typeCode(t CommandType) (uint8, bool) {
	for i, k := range commandTypes {
		if k == t {
			return uint8(i), true
		}
	}
	return 0, false
}

// Command is the envelope of every Raft log entry the FSM applies. Time is
// assigned by the leader when it proposes the command; Apply uses it for
// every timestamp and never reads a clock.
//
// Request is the client's idempotency key ("" for none): every attempt of
// one logical call carries the same key, and the FSM answers a repeat of a
// command that succeeded with the first result instead of applying it again
// (requests.go).
type Command struct {
	Type    CommandType     `json:"type"`
	Time    time.Time       `json:"time"`
	Request string          `json:"request,omitempty"`
	Payload json.RawMessage `json:"payload"`
}

// Encode builds the log entry data for a command. The leader generates
// every uuid the payload needs before calling it: Apply has no randomness.
func Encode(typ CommandType, at time.Time, payload any) ([]byte, error) {
	return EncodeRequest(typ, at, "", payload)
}

// EncodeRequest is Encode for a command that carries the client's
// idempotency key (see Command.Request).
func EncodeRequest(typ CommandType, at time.Time, request string, payload any) ([]byte, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("metadata: encode %s payload: %w", typ, err)
	}
	// The envelope by hand, byte for byte what json.Marshal(Command{...})
	// writes (TestEncodeRequestBytes): marshalling it re-scanned and
	// re-copied the payload through reflection, on the leader, for every
	// command.
	ts, err := at.UTC().MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("metadata: encode %s: %w", typ, err)
	}
	b := make([]byte, 0, len(p)+len(typ)+len(ts)+len(request)+48)
	b = append(b, `{"type":`...)
	b = appendJSONString(b, string(typ))
	b = append(b, `,"time":`...)
	b = append(b, ts...)
	if request != "" {
		b = append(b, `,"request":`...)
		b = appendJSONString(b, request)
	}
	b = append(b, `,"payload":`...)
	b = append(b, p...)
	return append(b, '}'), nil
}

// appendJSONString appends s as encoding/json writes a string: quoted, and
// a string with anything to escape (a quote, a backslash, <, > or &, a
// control or non-ASCII byte) left to encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// VolumeRef names a volume by uuid, or by VG and name.
type VolumeRef struct {
	UUID string `json:"uuid,omitempty"`
	VG   string `json:"vg,omitempty"`
	Name string `json:"name,omitempty"`
}

func (r VolumeRef) String() string {
	if r.UUID != "" {
		return r.UUID
	}
	return r.VG + "/" + r.Name
}

// NodeJoin adds a node, or re-admits a node with the same ID (a restart or
// a rejoin after leaving), updating its addresses.
type NodeJoin struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	APIAddr string `json:"api_addr"`
	NBDAddr string `json:"nbd_addr,omitempty"`
	Voter   bool   `json:"voter"`
}

// NodeLeave marks a node as left. It must own no pools.
type NodeLeave struct {
	ID string `json:"id"`
}

// NodeSetState marks a node up or down (leaving is NodeLeave).
type NodeSetState struct {
	ID    string    `json:"id"`
	State NodeState `json:"state"`
}

// VGCreate creates a volume group.
type VGCreate struct {
	Name       string   `json:"name"`
	UUID       string   `json:"uuid"`
	Tags       []string `json:"tags,omitempty"`
	MaxVolumes int      `json:"max_volumes,omitempty"`
}

// VGRemove removes an empty volume group.
type VGRemove struct {
	Name string `json:"name"`
}

// VGSet changes a VG's quota and/or tags; nil fields are left alone.
type VGSet struct {
	Name       string    `json:"name"`
	MaxVolumes *int      `json:"max_volumes,omitempty"`
	Tags       *[]string `json:"tags,omitempty"`
}

// PoolAdd records a pool on a node. TxnID is the kernel's transaction id
// of the pool when it is adopted (0 for a new pool).
type PoolAdd struct {
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
	TxnID          uint64 `json:"txn_id"`
}

// PoolGrow records grown data and/or metadata devices (0: unchanged).
type PoolGrow struct {
	Pool      string `json:"pool"`
	DataBytes uint64 `json:"data_bytes,omitempty"`
	MetaBytes uint64 `json:"meta_bytes,omitempty"`
}

// PoolRemove removes a pool that has no volumes and no pending intents.
type PoolRemove struct {
	Pool string `json:"pool"`
}

// VolumeUsage is one volume's share of a usage report.
type VolumeUsage struct {
	UUID           string `json:"uuid"`
	ExclusiveBytes uint64 `json:"exclusive_bytes"`
	SharedBytes    uint64 `json:"shared_bytes"`
	// Open: an NBD client has the volume's export open.
	Open bool `json:"open,omitempty"`
}

// PoolReportUsage is an agent's usage report. Volumes it names that no
// longer exist are ignored (a delete may have raced the report).
type PoolReportUsage struct {
	Pool    string        `json:"pool"`
	Usage   Usage         `json:"usage"`
	Volumes []VolumeUsage `json:"volumes,omitempty"`
}

// PoolQuarantine records findings and stops changes to the pool.
type PoolQuarantine struct {
	Pool     string    `json:"pool"`
	Findings []Finding `json:"findings"`
}

// PoolUnquarantine lifts a quarantine after an operator's repair.
type PoolUnquarantine struct {
	Pool string `json:"pool"`
}

// VolumeCreate creates a thin volume; Pool is the pool's uuid or its name
// in the VG.
type VolumeCreate struct {
	UUID           string   `json:"uuid"`
	VG             string   `json:"vg"`
	Name           string   `json:"name"`
	Pool           string   `json:"pool"`
	SizeBytes      uint64   `json:"size_bytes"`
	ReadOnly       bool     `json:"read_only,omitempty"`
	ActivationSkip bool     `json:"activation_skip,omitempty"`
	Tags           []string `json:"tags,omitempty"`
}

// VolumeExtend grows a volume's virtual size. It is a record change only:
// the thin device's size is its table's length, not pool metadata, so no
// kernel transaction is involved.
type VolumeExtend struct {
	Volume    VolumeRef `json:"volume"`
	SizeBytes uint64    `json:"size_bytes"`
}

// VolumeRename renames a volume within its VG.
type VolumeRename struct {
	Volume  VolumeRef `json:"volume"`
	NewName string    `json:"new_name"`
}

// VolumeDelete deletes a volume or snapshot.
type VolumeDelete struct {
	Volume VolumeRef `json:"volume"`
}

// VolumeSetTags replaces a volume's tags.
type VolumeSetTags struct {
	Volume VolumeRef `json:"volume"`
	Tags   []string  `json:"tags"`
}

// VolumeSetActive sets a volume's desired activation (LVM's lvchange -a).
// Deactivating a volume an NBD client has open is refused.
type VolumeSetActive struct {
	Volume VolumeRef `json:"volume"`
	Active bool      `json:"active"`
}

// VolumeSetActivationSkip sets a volume's activation-skip flag (LVM's
// lvchange -k): whether a plain activation of the VG passes it over.
type VolumeSetActivationSkip struct {
	Volume VolumeRef `json:"volume"`
	Skip   bool      `json:"skip"`
}

// VolumeSetReadOnly sets a volume's read-only flag (LVM's --permission).
type VolumeSetReadOnly struct {
	Volume   VolumeRef `json:"volume"`
	ReadOnly bool      `json:"read_only"`
}

// SnapshotCreate takes a thin snapshot of Origin, in the origin's pool, with
// the origin's size. Snapshots are read-write unless ReadOnly; LVM's thin
// snapshots skip activation by default, and so do these unless told.
type SnapshotCreate struct {
	UUID             string    `json:"uuid"`
	Origin           VolumeRef `json:"origin"`
	Name             string    `json:"name"`
	ReadOnly         bool      `json:"read_only,omitempty"`
	NoActivationSkip bool      `json:"no_activation_skip,omitempty"`
	Tags             []string  `json:"tags,omitempty"`
}

// VolumeRevert returns Volume to the content of Snapshot, a snapshot taken
// of it: the volume's thin device is deleted and a new one is snapshotted
// from Snapshot, keeping the volume's uuid and name. The snapshot stays.
type VolumeRevert struct {
	Volume   VolumeRef `json:"volume"`
	Snapshot VolumeRef `json:"snapshot"`
}

// IntentComplete is an agent's report that it executed Intents — exactly
// the head of the pool's queue, in order — as one kernel transaction from
// FromTxn to FromTxn+len(Intents).
type IntentComplete struct {
	Pool    string   `json:"pool"`
	FromTxn uint64   `json:"from_txn"`
	Intents []string `json:"intents"`
}

// IntentAbandon is an agent's report that it will not execute Intents (it
// refused them before touching the kernel). Intents that depend on them are
// abandoned with them.
type IntentAbandon struct {
	Pool    string   `json:"pool"`
	Intents []string `json:"intents"`
	Reason  string   `json:"reason"`
}
