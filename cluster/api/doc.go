// Package api is thinraft's HTTP API: versioned JSON over HTTPS, served by
// every node, backed by the replicated metadata model.
//
// Design. Every node serves the same routes (net/http ServeMux patterns,
// /v1/...). A write becomes one or more metadata.Commands that the leader
// builds — it chooses uuids and the timestamp, because the FSM must not —
// and commits through an Applier (raftnode.Node satisfies it). A node that
// is not the leader forwards the request unchanged to the leader's API
// address (taken from the leader's metadata Node record, or a configured
// mapping), presenting its own node certificate; while an election is in
// progress it retries for a bounded time and then answers 503 not_leader
// naming the leader it last knew. Reads are linearizable by default: the
// leader runs the ReadIndex check (Applier.LinearizableRead) and then reads
// its local FSM; followers forward them. ?stale=true reads the local
// replica without any check, so it works without a leader.
//
// Operations. Commands that queue kernel work (volume create, snapshot,
// delete, revert) answer 202 with an operation: its id is the Raft index of
// the command, and its intents are "<index>-<n>". GET /v1/operations/{id}
// reports pending, done or abandoned (with the agent's reason). ?wait=5s
// makes the leader wait, by watching the FSM, for the operation to finish
// and answer 200/201 with the final state instead.
//
// Auth. TLS always; then a bearer token (compared in constant time against
// SHA-256 hashes from the configuration) or a client certificate that
// verifies against the cluster CA. Unauthenticated requests get 401 with a
// JSON error. Errors are {"error":{"code","message"}} with metadata's codes
// mapped to HTTP statuses (errors.go).
//
// Imports: metadata, cluster/raftnode (for the Applier's result and error
// types), cluster/pki and the standard library. The wire types here are
// shared with package cluster/client.
package api
