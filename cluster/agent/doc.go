// Package agent is the node agent: it owns its node's dm-thin pools through
// thinpool and drives them from the replicated metadata model.
//
// Role. The agent runs in the node process next to the Raft node and the
// metadata FSM. It reads committed state from the local FSM replica
// (FSM.Read, FSM.Watch) and changes the model only by proposing commands
// through a Proposer (the node wiring forwards them to the leader). It never
// begins an intent: the leader queues intents when it applies volume
// commands; the agent executes them and reports completions, refusals,
// quarantines, usage and pool growth.
//
// Design. For each pool of its node the agent keeps one thinpool.Pool whose
// Record is a view of the FSM (Record in record.go): Load builds the
// thinpool.PoolState from the pool, its volumes and its pending intent queue;
// Complete/CompleteBatch propose intent_complete, Abandon proposes
// intent_abandon, Quarantine proposes pool_quarantine. Every proposal but a
// completion waits until the local replica has applied it, so the next Load
// sees it even on a follower. A completion returns once committed, and the
// Record presents the pool as after it until the local replica has applied
// it (ahead.go). By default (Config.Pipeline 2) completions are pipelined
// (pipeline.go): CompleteBatch queues the completion and the next batch
// executes from the kernel's new transaction id while one goroutine per
// pool sends each queued completion at once, several in flight; the leader
// applies proposals through a CompletionOrder (order.go), which queues a
// pool's completions in transaction order however they arrive. A failed
// completion drops the outstanding ones, and the retry's ExecuteBatch rolls
// forward the prefix of the replica's queue the kernel proves it ran, as
// after a crash. Metadata pools are keyed by uuid and so are the
// thinpool pools (Config.Name = uuid; the dm names stay far under the
// 127-byte limit).
//
// The loop (agent.go) takes the FSM's watch channel, then reads: every
// pool of the node is opened (backing devices prepared by a Storage,
// thinpool.Open activates and reconciles), and every open pool with pending
// intents gets its whole queue (up to MaxBatch) executed by
// thinpool.ExecuteBatch as one kernel transaction with one completion
// command. Refusals are abandoned by thinpool through the Record; other
// errors are logged and retried with per-pool exponential backoff. A pool
// the record marks quarantined is skipped until an operator lifts it. On
// timers, on a goroutine of their own beside the loop (their first round at
// a random point of the interval), the agent reconciles every pool (kernel
// vs record) and reports
// usage (one pool_report_usage per pool per interval) and backing devices
// grown by autoextend (pool_grow); thinpool's Monitor runs per pool.
//
// Activation (activation.go): the volumes the record marks Active are the
// node's NBD exports (Exports, an nbd.Source for the node's NBD listener);
// a volume's device is activated when a client first asks for it, retired
// before any intent of a step when the record stops wanting it, and who
// has an export open is reported promptly as VolumeUsage.Open.
//
// Imports: metadata, thinpool, thinpool/nbd, dm (and dm/kernel for loop devices),
// golang.org/x/sys via it, and the standard library. Never
// raftnode (the Proposer hides it), cli or driver.
package agent
