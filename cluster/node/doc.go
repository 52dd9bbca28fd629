// Package node runs one thinraft node process: the Raft node with the
// metadata FSM, the HTTPS API, and the node agent, wired together from a
// JSON configuration file (Config) and stopped in order.
//
// Design. Run opens the TLS identity, starts raftnode with a metadata.FSM,
// serves the API (package cluster/api) on a TLS listener beside one
// internal route family (/v1/internal/, internal.go) that only node
// certificates of the cluster CA may call, and runs the agent on the
// configured engine ("emu": dm/emu with sparse files; "kernel": dm/kernel
// with loop devices). The agent's Proposer (proposer.go) applies a command
// locally when this node leads and otherwise posts it to the leader's
// internal propose route, following leadership until the context ends.
//
// Membership. A new cluster starts with every initial node bootstrapping
// the same peer set (Config.Bootstrap), so no node is special; a node with
// Config.Join instead asks any member (internal join route) and is added
// by the leader as a voter or non-voter. Every start re-registers the node
// in the model (node_join with its Raft and API addresses), which the API
// uses to find leaders when forwarding, and its NBD address.
//
// NBD (nbd.go). With nbd_bind set, the node listens for NBD before it
// registers (the recorded nbd_addr is one it holds) and, once the agent
// runs, serves the agent's exports there: the node's active volumes
// (docs/nbd.md, docs/agent.md).
//
// Debug (debug.go). With debug_bind set, Go's profiler is served there, on a
// listener of its own and without authentication (loopback only).
//
// Shutdown, on context end (SIGTERM in `thinraft agent`): NBD first (its
// clients' requests answered and flushed), then the agent (no more kernel
// work half-reported), then the API, then Raft, then the engine. Logs are structured (log/slog, JSON on stderr), raft's included (logs.go).
//
// Imports: cluster/raftnode, cluster/api, cluster/agent, cluster/pki,
// metadata, thinpool/nbd, dm/emu, dm/kernel and the standard library. Never cli or
// driver.
package node
