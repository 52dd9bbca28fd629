// Package apitest runs an in-process thinraft cluster for tests of the API
// and its client: raftnode nodes on loopback TLS, each with a metadata FSM
// and an API server on 127.0.0.1:0, certificates from a throwaway CA.
//
// It is imported by tests only. Imports: cluster/api, cluster/raftnode,
// cluster/pki, metadata and the standard library.
package apitest
