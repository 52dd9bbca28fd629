package node

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/thinraft/thinraft/cluster/pki"
)

// Engines a node can drive its pools with.
const (
	EngineEmu    = "emu"
	EngineKernel = "kernel"
)

// Config is one node's configuration file (JSON). Paths may be relative to
// the working directory of the process.
type Config struct {
	// ID is the node id; the certificate must name it.
	ID string `json:"id"`
	// DataDir holds raft/ (log, stable store, snapshots), pools/ (backing
	// files) and emu/ (the userspace engine's state).
	DataDir string `json:"data_dir"`

	// RaftBind is the Raft listen address; RaftAdvertise what peers dial
	// ("" = the bound address).
	RaftBind      string `json:"raft_bind"`
	RaftAdvertise string `json:"raft_advertise,omitempty"`
	// APIBind is the HTTPS API listen address; APIAdvertise what clients
	// and other nodes dial ("" = the bound address).
	APIBind      string `json:"api_bind"`
	APIAdvertise string `json:"api_advertise,omitempty"`
	// NBDBind is the NBD listen address serving the node's active volumes
	// ("" = no NBD service); NBDAdvertise what NBD clients dial ("" = the
	// bound address). The node records it in the model (Node.NBDAddr), where
	// GET .../export finds it.
	NBDBind      string `json:"nbd_bind,omitempty"`
	NBDAdvertise string `json:"nbd_advertise,omitempty"`

	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	CAFile   string `json:"ca_file"`
	// TokenHashes are the accepted API tokens as api.HashToken gives them.
	TokenHashes []string `json:"token_hashes"`

	// Engine is "emu" (default) or "kernel".
	Engine string `json:"engine,omitempty"`

	// Bootstrap is the initial peer set; every node of a new cluster lists
	// the same set, itself included. Ignored once the node has Raft state.
	Bootstrap []Peer `json:"bootstrap,omitempty"`
	// Join is the API address of any member, for a node added later.
	Join string `json:"join,omitempty"`
	// NonVoter makes a joining node a non-voter.
	NonVoter bool `json:"non_voter,omitempty"`

	// Timing is "lan" (default) or "loopback" (fast failover for clusters
	// on one machine).
	Timing string `json:"timing,omitempty"`
	// Agent intervals (zero: the agent's defaults).
	ReconcileInterval Duration `json:"reconcile_interval,omitzero"`
	ReportInterval    Duration `json:"report_interval,omitzero"`
	MonitorInterval   Duration `json:"monitor_interval,omitzero"`
	// GroupCommit is how many packed log entries the leader keeps in
	// flight while later commands wait to share the next one
	// (raftnode/group.go): 0 means raftnode's default, a negative value
	// turns group commit off (every command its own entry, as raft
	// batches them).
	GroupCommit int `json:"group_commit,omitempty"`
	// Pipeline is how many batches per pool the agent may have executed
	// with their completions not yet committed (agent.Config.Pipeline;
	// 0: the agent's default).
	Pipeline int `json:"pipeline,omitempty"`
	// ForwardTimeout bounds a follower's search for a leader (API).
	ForwardTimeout Duration `json:"forward_timeout,omitzero"`
	// DebugBind, if set, serves Go's profiler (/debug/pprof/) there, without
	// authentication: keep it on loopback (node/debug.go).
	DebugBind string `json:"debug_bind,omitempty"`
	// FaultFile is for fault-injection tests only: a JSON file
	// {"isolate":["n2",...]} the node polls, cutting its Raft and
	// node-to-node HTTPS links to the nodes named (node/faults.go). Empty
	// (the default) disables fault injection.
	FaultFile string `json:"fault_file,omitempty"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `json:"log_level,omitempty"`
}

// Peer is one member of the bootstrap set.
type Peer struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
}

// Duration is a time.Duration written as a string ("30s") in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "30s"-style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// LoadConfig reads and checks a configuration file. Unknown fields are
// refused, so a misspelt option is an error rather than a silent default.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("node config %s: %w", path, err)
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("node config %s: %w", path, err)
	}
	return &c, nil
}

// Check fills defaults and validates.
func (c *Config) Check() error {
	if err := pki.ValidateName(c.ID); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	if c.DataDir == "" {
		return fmt.Errorf("data_dir is required")
	}
	if c.RaftBind == "" || c.APIBind == "" {
		return fmt.Errorf("raft_bind and api_bind are required")
	}
	if c.NBDAdvertise != "" && c.NBDBind == "" {
		return fmt.Errorf("nbd_advertise needs nbd_bind")
	}
	if c.CertFile == "" || c.KeyFile == "" || c.CAFile == "" {
		return fmt.Errorf("cert_file, key_file and ca_file are required")
	}
	if len(c.TokenHashes) == 0 {
		return fmt.Errorf("token_hashes: at least one is required (clients authenticate with a token or a client certificate)")
	}
	switch c.Engine {
	case "":
		c.Engine = EngineEmu
	case EngineEmu, EngineKernel:
	default:
		return fmt.Errorf("engine %q: want %q or %q", c.Engine, EngineEmu, EngineKernel)
	}
	switch c.Timing {
	case "", "lan", "loopback":
	default:
		return fmt.Errorf("timing %q: want \"lan\" or \"loopback\"", c.Timing)
	}
	if len(c.Bootstrap) > 0 && c.Join != "" {
		return fmt.Errorf("bootstrap and join are exclusive")
	}
	if len(c.Bootstrap) > 0 {
		self := false
		for _, p := range c.Bootstrap {
			if p.ID == "" || p.RaftAddr == "" || p.APIAddr == "" {
				return fmt.Errorf("bootstrap peer %+v: id, raft_addr and api_addr are required", p)
			}
			self = self || p.ID == c.ID
		}
		if !self {
			return fmt.Errorf("bootstrap: the peer set must include this node (%s)", c.ID)
		}
	}
	return nil
}

// WriteConfig writes c as indented JSON (0600: it names key files and
// token hashes).
func WriteConfig(path string, c *Config) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}
