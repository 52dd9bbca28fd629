// Package thinpool manages one node's dm-thin pools through dm.Control: pool
// lifecycle, thin create/snapshot/delete/resize under the transaction
// protocol of docs/design.md, reconcile, autoextend, usage, and mapping and
// delta export. It arrives with issue 4; until then it holds no code.
//
// Imports: dm and the standard library. It never imports metadata, cluster,
// cli or driver (data flows down, never up).
package thinpool
