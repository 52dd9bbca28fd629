// Package raftnode runs one thinraft node's Raft instance (hashicorp/raft)
// and is the only code that touches Raft directly: data directory, mutual
// TLS transport, membership, applies and reads. It knows nothing of the
// model: it replicates opaque commands into a raft.FSM supplied by the
// caller (package metadata's FSM in the agent).
//
// Layout. A node's data directory holds raft.db (raft-boltdb/v2 on bbolt:
// log entries plus the stable store, i.e. current term and vote),
// snapshots/ (raft's file snapshot store, two retained) and node-id (the id
// the directory belongs to; opening it under another id fails, because the
// log and vote are that server's).
//
// Transport. Every Raft RPC travels over TLS 1.3 with certificates on both
// sides (TLSLayer, a raft.StreamLayer under raft's NetworkTransport). Trust
// is the cluster CA and nothing else: an inbound peer must present a node
// certificate of that CA (client certificates of the same CA are refused);
// an outbound dial verifies the server for the dialled host and for the
// node id the configuration places at that address. Join dials the new
// node first and requires its certificate to name the id being added.
// FaultLayer wraps the transport to cut links between chosen nodes.
//
// Membership. A cluster starts by bootstrapping one node or a fixed set;
// others join through the leader, normally as non-voters, and PlanVoters /
// Rebalance keep 1, 3 or 5 voters among the healthy members. Leave hands
// leadership away before asking the leader to remove the node; Remove
// also takes out dead nodes. Changes are conditional on the configuration
// index read, so two concurrent changes cannot silently overwrite each
// other.
//
// Applies and reads. Apply returns the FSM's response after this node's
// FSM applied the command; concurrent applies are batched by raft
// (BatchApplyCh, MaxAppendEntries) and, with Config.Pack, by group commit
// (group.go): while one entry is in flight, the commands that arrive wait
// and go together as one packed entry, in arrival order. Submit queues a
// command and returns a wait, for callers that must keep log order without
// waiting for each command. LinearizableRead implements ReadIndex:
// commit index, quorum check, wait for the FSM (a shared barrier where the
// index alone cannot prove it). Leader forwarding is the API layer's job;
// errors name the leader (NotLeaderError).
//
// Imports: hashicorp/raft, raft-boltdb/v2, bbolt, go-hclog, cluster/pki and
// the standard library. Never metadata, thinpool, cli or driver.
package raftnode
