// Command cluster (bench/cluster) measures the control plane of a 3-node
// thinraft cluster on the userspace engine and writes
// bench/results/cluster.json (`make bench-cluster`, docs/bench-cluster.md).
//
// It is a program, not a test: three nodes run as `thinraft agent`
// processes (or, with -procs=false, in this process through
// cluster/node.Run), each with its own temp data directory, certificates of
// a fresh cluster CA (as `thinraft cluster init` makes them) and a
// userspace-engine pool, so every operation takes the real path: HTTPS
// API (the leader, once a client's first answer named it; a follower
// forwards otherwise) -> Raft -> the pool node's
// agent -> thinpool -> engine, and the client waits for the completion
// with ?wait.
//
// At each level (100, 10,000, 100,000 existing volumes by default) the
// cluster is first filled with concurrent creates, then a fixed budget of
// create+snapshot pairs is timed with concurrent clients; each call's
// latency runs from the API call to the operation's completion (the
// saturated closed loop: the throughput figure; and a light one). Then an
// open loop offers operations at a fixed rate (1,000/s by default): each
// arrival is scheduled in advance and timed from its scheduled time, so a
// slow answer cannot hold back later arrivals and hide the queue behind it
// (coordinated omission); the p99 goal is judged there. Every open-loop
// operation is also split into stages by the timestamps its intent carries
// (stages.go), and each run reports the CPU time per operation of the node
// processes and of this one (cpu.go). After the
// last level it reads the process's VmRSS and heap, stops the nodes, and
// times a metadata FSM restore of a Raft snapshot of one node's real
// state: that node's latest on-disk snapshot plus its log replayed into a
// fresh FSM, snapshotted (FSM.Snapshot + Persist) and restored into
// another fresh FSM (only the restore is the goal's number).
//
// Imports: cluster/node, cluster/client, cluster/api, cluster/pki,
// metadata, hashicorp raft and raft-boltdb (to read a stopped node's
// state). Nothing imports it.
package main
