// Package client is the Go client of thinraft's HTTP API (package
// cluster/api), used by the CLI and the Cinder driver.
//
// Design. A Client knows several endpoints (any nodes of the cluster);
// every node forwards writes and linearizable reads to the leader, so the
// client needs no leader tracking for correctness. It sticks to the
// endpoint that last answered, or to the leader that answer named
// (api.HeaderLeader) when that is a configured endpoint which has not just
// failed, saving the forward hop; it moves on when one cannot be dialled,
// and retries
// with backoff while the cluster answers 503 not_leader (an election), up
// to Config.RetryTimeout or the context's deadline. Every write carries an
// idempotency key (the Idempotency-Key header), fresh for each call and the
// same on each of its attempts; the cluster remembers the keys of writes
// that succeeded and answers a repeat with the first result. So a write
// whose fate is unknown (a connection lost after the request went out, the
// server's outcome_unknown) is sent again, and a call ends in
// ErrOutcomeUnknown only when the retry time runs out.
//
// Errors from the API are *Error values carrying the HTTP status and the
// API's code; errors.Is(err, client.ErrNotFound) and the other sentinels
// match by code.
//
// Imports: cluster/api (wire types), metadata (model types) and the
// standard library.
package client
