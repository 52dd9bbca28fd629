// Package cli implements the LVM-like thinraft commands over the API client.
// It arrives with issue 6; until then it holds no code.
//
// Imports: the cluster API client; never metadata, thinpool or dm directly.
package cli
