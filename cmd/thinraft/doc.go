// Command thinraft is the thinraft binary: agent, cluster setup and (with
// the CLI issue) the LVM-like commands in one.
//
// Dispatch (main.go) is a small table of subcommands with plain flag
// parsing, so it can move under urfave/cli unchanged: `version`,
// `agent --config FILE` (runs cluster/node until SIGTERM or SIGINT) and
// `cluster init` (writes a loopback cluster's CA, certificates, token and
// node configurations). Errors are one line on stderr with a non-zero exit.
//
// Imports: cluster/node, cluster/pki, cluster/api (token hashes) and the
// standard library.
package main
