// Package apitest runs an in-process thinraft cluster for tests of the API
// and its client: raftnode nodes on loopback TLS, each with a metadata FSM
// and an API server on 127.0.0.1:0, certificates from a throwaway CA. There
// are no agents: a test completes or abandons intents by hand.
//
// Secrets (CA and token) and LogBuffer (the nodes' logs, printed when a
// test fails) are shared with cluster/node/nodetest, the full-node harness,
// which imports this package; the reverse would link node's agent and
// engines into the API's tests.
//
// It is imported by tests only. Imports: cluster/api, cluster/raftnode,
// cluster/pki, metadata and the standard library.
package apitest
