// Command demo is `make demo`: a walk through thinraft for someone who
// knows LVM-thin, and a check that the walk works.
//
// It builds thinraft, writes a 3-node loopback cluster into a temporary
// directory (`thinraft cluster init`), starts three `thinraft agent`
// processes on the userspace dm-thin engine, and then runs the real CLI
// the way a user types it, printing each command and its output: a VG and
// two thin pools on different nodes, a thin volume, 32 MiB written through
// NBD, a snapshot, 16 MiB more, lvs with exact exclusive/shared usage, an
// extend, a revert to the snapshot (lvconvert --merge), kill -9 of the
// Raft leader while the cluster carries on, the node's restart, a metadata
// backup, removal of everything, and SIGTERM to every node.
//
// Every step's result is checked, not just its exit status: reports are
// read back as LVM's JSON (`lvs --reportformat json`), sizes, attributes
// and usage compared to the byte, the data read back through NBD compared
// sector by sector. The exit status is 0 only when every check held.
//
// Cleanup is certain on every path (a failed check, SIGINT/SIGTERM to the
// demo, the -timeout): each agent runs in its own process group, is
// stopped and reaped, and at the end no process of those groups may exist.
// Agents also carry Pdeathsig, so even a demo killed with SIGKILL takes
// them along. Waits are bounded and wait for state, not time: a leader, a
// usage report measured after a write (the demo shortens the agents'
// report interval to one second in the configs cluster init wrote).
//
// As a command it may import anything below it: cli (the client
// configuration loader), cluster/client (reads the CLI does not show:
// usage report times, membership), cluster/node (the node configuration),
// metadata (the backup format's name).
package main
