// Package cluster is the home of thinraft's multi-node layer; the code
// lives in its sub-packages:
//
//   - cluster/pki: the cluster CA and node/client certificates.
//   - cluster/raftnode: one node's Raft (hashicorp/raft over mutual TLS,
//     raft-boltdb/v2 stores), membership, applies and linearizable reads.
//   - cluster/agent: the node agent that executes committed intents on its
//     node's pools through thinpool.
//   - cluster/api and cluster/client: the versioned HTTPS JSON API with
//     leader forwarding and authentication, and its Go client.
//
// Data flows one way: client -> api -> raftnode -> metadata FSM -> agent ->
// thinpool -> dm. Sub-packages import metadata, thinpool and dm; never cli or
// driver.
package cluster
