// Package nodetest runs whole thinraft nodes in-process for tests:
// node.Run per node in a goroutine, as `thinraft agent` runs it, with
// certificates of a fresh CA written to files, free loopback ports (Raft,
// API and optionally NBD), agents on the userspace engine by default, a
// *client.Client and waits for a leader and for registration. The logs of
// every node go to one buffer printed (its end) when the test fails.
//
// It is for tests only: it calls testing.TB's Fatal on any setup error.
//
// Why not cluster/api/apitest: apitest is the API's own harness (Raft and
// API servers, no agents; a test completes intents by hand), imported by
// the tests of cluster/api and cluster/client. Putting node.Run there
// would link the agent and the engines into those tests and take away the
// hand control they rely on. What the two share, the CA and token
// (apitest.Secrets) and the log buffer (apitest.LogBuffer), lives in
// apitest, the lower of the two, and is used from here.
//
// cluster/node's own tests import nodetest from the external test package
// node_test: an internal test of package node could not (import cycle).
//
// Imports: cluster/node, cluster/client, cluster/api, cluster/api/apitest,
// cluster/pki, metadata and the standard library.
package nodetest
