// Package metadata holds the replicated model (cluster, nodes, pools,
// volumes, snapshots) and its Raft FSM. It arrives with issue 5; until then
// it holds no code.
//
// Imports: the standard library and the Raft library only; never cluster,
// cli or driver.
package metadata
