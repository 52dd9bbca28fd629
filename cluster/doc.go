// Package cluster runs the Raft node, the HTTP API with leader forwarding,
// authentication and the node agent. It arrives with issue 5; until then it
// holds no code.
//
// Imports: metadata, thinpool, dm; never cli or driver.
package cluster
