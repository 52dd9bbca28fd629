// Package driver is thinraft's Cinder volume driver: one Go method per call
// of Cinder's LVM driver (create_volume, delete_volume, create_snapshot,
// ..., get_volume_stats), with Cinder's semantics, argument shapes and
// naming, over the cluster's HTTP API; and the same calls as HTTP
// endpoints (Handler: POST /cinder/v1/<call>), for a thin Python driver in
// a Cinder volume service or any orchestrator. docs/cinder.md maps every
// call to the API calls it makes.
//
// Design. The driver keeps no state of its own beyond cached stats: the
// cluster's record is the truth, so any number of driver processes may
// serve one backend. Cinder retries calls, so every call is idempotent in
// Cinder's sense: a volume's or snapshot's thinraft uuid is its Cinder id
// and its name is Cinder's ("volume-<id>", "_snapshot-<id>" as the LVM
// driver escapes it), so a repeated create is recognised (the API answers
// a repeated uuid+name like the first, and the driver checks an "exists"
// refusal against the id), and deleting what is not there succeeds with a
// log line, as the LVM driver does. Calls that start kernel work (creates,
// snapshots, deletes, reverts) return only when the pool's agent has done
// it (the API's ?wait, then a long poll, bounded by Config.OpTimeout),
// because Cinder treats the call's return as "done".
//
// Placement: the scheduler's "host@backend#pool" names the thinraft pool;
// without it the pool with the most free capacity (stats.go's formula,
// which applies the agents' thinpool reserve to data and metadata) is
// chosen. Clones and volumes from snapshots are thin snapshots and live in
// their source's pool.
//
// Errors are *Error with a Kind that names the Cinder exception to raise
// (KindBusy: VolumeIsBusy, KindNotSupported: NotImplementedError, ...);
// migrate_volume is KindNotSupported until volumes can move between pools.
//
// Imports: cluster/client, cluster/api (wire types), metadata (model
// types) and the standard library; never raftnode, agent, thinpool or dm.
package driver
