// Package metadata holds thinraft's replicated model — nodes, volume
// groups, pools with their kernel transaction ids, volumes and snapshots,
// and the queue of intents that drive each pool's kernel — and its Raft
// state machine (FSM).
//
// Design. Every change is a Command (a JSON envelope with a type, the
// leader's timestamp and a payload) committed to the Raft log and applied
// by FSM.Apply on every replica. Apply validates the command completely
// (LVM's name rules, sizes, quotas, states) and either applies it or returns
// a Result carrying a typed *Error; it never reads a clock, draws a random
// number, lets map order reach its output, or does IO, so every replica
// computes the same state and the same results. uuids are chosen by the
// leader and carried in the payload; intent ids come from the Raft index
// (and a command's position in a packed entry: several commands committed
// as one log entry by the leader's group commit, pack.go).
//
// A command that changes a pool's set of thin devices (create, snapshot,
// delete, revert) does not touch the kernel: it records the change in the
// model (a volume in state creating, deleting, ...) and appends an Intent to
// its pool's queue. The pool's agent executes the queue head as one kernel
// transaction per batch and reports it with intent_complete (or refuses
// intents with intent_abandon). Queue position fixes each intent's
// transaction ids: intent i of the queue moves the kernel from pool.TxnID+i
// to pool.TxnID+i+1, completions arrive in queue order, and an abandon
// renumbers what follows it. docs/metadata.md has the lifecycle and the
// batch protocol.
//
// Performance. The state is a set of maps keyed by uuid with name indexes
// (VG/name -> uuid, an ordered name set per VG for paging), a thin-id map
// and an intent queue per pool; a command touches a bounded number of
// entries, never the whole model. Readers take a read lock for one View;
// Snapshot copies values under the read lock and encodes outside it;
// Restore builds a new state aside and swaps it in.
//
// Memory. A node holds the record for as long as it runs, and every cycle
// of Go's garbage collector marks all of it; at 100,000 volumes that mark
// was a node's largest latency cost (docs/bench-cluster.md). So the
// per-volume structures hold as few pointers as they can: volumes by value
// in fixed chunks behind an index keyed by the uuid's bytes (volumes.go,
// uuidkey.go), a volume's uuid and name in one string, per-pool sets keyed
// by value and mapping to volume-table slots. The idempotency table
// (request_table.go) and the VG name index (name_index.go, nameset.go) hold
// no pointers at all: bytes in arenas, slots, and maps keyed by a hash of
// the string (hash_index.go).
//
// Imports: the standard library and github.com/hashicorp/raft only; never
// thinpool, cluster, cli or driver (the agent translates between this
// model and thinpool's).
package metadata
