// Package thinpool manages one node's dm-thin pools through dm.Control: the
// layer that makes "Thin pool ... transaction_id is 91, while expected 92"
// impossible. It is a library used by the node agent and tested directly on
// both engines.
//
// Design. A Pool owns one dm thin-pool device. Every change to the pool's
// set of thin devices is an Intent {op, thin id, from txn T, to T+1} that the
// caller has recorded durably (Record.Begin; in the cluster, a Raft commit)
// before the kernel is touched. Execute then sends the dm message, then
// set_transaction_id T T+1, then Record.Complete. The pool is the only
// writer of its kernel transaction id, so the kernel and the record can
// differ by at most the one pending intent, and Reconcile can always tell
// which side of each step a crash fell on: kernel at T+1 means roll the
// record forward; kernel at T means redo, where EEXIST (create) and ENODATA
// (delete) from an earlier attempt count as done. Anything else is
// quarantined with a Finding and never "fixed" by guessing; reconcile never
// deletes a thin device it does not know to be garbage. Failpoints at every
// step boundary (failpoint.go) let crash tests stop the process there.
//
// Reads of mappings (usage with thin_ls semantics, mapped ranges, deltas
// with thin_delta semantics) go through the pool's one held metadata root
// (reserve_metadata_snap), shared by concurrent readers and read through
// dm.MetadataReader, so the same code runs on the kernel and the engine.
//
// Space: data and metadata autoextend by default (threshold and percent as
// LVM's thin_pool_autoextend_*), driven by the pool's low-water event and a
// periodic check; creates and snapshots are refused, with the fix named,
// before free data or metadata would fall under the reserve.
//
// Imports: dm and the standard library. Never metadata, cluster, cli or
// driver: data flows down.
package thinpool
