// Package cli is the `thinraft` command line: LVM's commands (vgcreate,
// vgs, vgremove, vgdisplay, pvs, lvcreate, lvs, lvdisplay, lvremove,
// lvextend, lvresize, lvreduce, lvrename, lvchange, lvconvert) with LVM's
// option names, size rules, messages, prompts and exit codes, plus
// `thinraft node`, `thinraft cluster status`, `thinraft nbd put|get`,
// `thinraft vgcfgbackup` and `thinraft driver serve`, all over the cluster
// API. docs/user-guide.md maps LVM's commands to these.
//
// Design. Commands are urfave/cli v3 commands (v3 parses options after
// positional arguments, as LVM users type them: `lvcreate vg/pool -V 1G`).
// Before urfave parses, argv.go rewrites what getopt accepts and urfave
// does not (glued short values: -L10G, -an, -ky, -prw, -o+field), driven
// by each command's own flag list, so the two never disagree. Each command
// first turns its options into API requests without any call (planLVCreate,
// planLVChange: unit-tested as data), then makes the calls through the API
// interface (the Go client, or a fake in tests). Writes that start kernel
// work (create, snapshot, delete, revert) ask the API to wait (?wait) and
// then wait for the operation, with a spinner only on a terminal; an
// abandoned operation is the command's failure with the agent's reason.
//
// lvs -S takes a small selection language (selectexpr.go: string
// comparisons joined by && || ! and parentheses), parsed before any call.
//
// Errors are one line naming the fix. Exit codes are LVM's: 0 ok, 3 an
// invalid command line (including what thinraft deliberately does not
// support: linear, mirrored, raid, cache and COW LVs, shrinking), 5 a
// failed command (ExitError carries the code).
//
// The client configuration (config.go) is client.json, written by
// `thinraft cluster init`; the CLI finds it from --cluster-config,
// $THINRAFT_CONFIG or ~/.config/thinraft/client.json.
//
// Imports: cluster/client and cluster/api (calls and wire types), metadata
// (model types), cli/report (report output); never raftnode, agent,
// thinpool or dm.
package cli
