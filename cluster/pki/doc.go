// Package pki issues and loads the X.509 material of a thinraft cluster: one
// cluster CA (ECDSA P-256), node certificates and client certificates signed
// by it, PEM encoding, and the identity carried in a certificate.
//
// Identity model. A certificate names exactly one principal in a URI SAN,
// thinraft://node/<id> or thinraft://client/<name>; that URI is the only
// field code branches on (the subject CN repeats it for humans). Node
// certificates also carry their node id as a DNS SAN plus the hosts and IPs
// the node is reached at (always localhost and 127.0.0.1, so loopback
// clusters need no extra names), and are valid for both server and client
// authentication because Raft peers both dial and accept. Client
// certificates are client-auth only, so a client certificate can never
// stand in for a node on the Raft port.
//
// The package is used by tests (throwaway CAs, a self-signed node
// certificate nobody trusts) and by `thinraft cluster init` (a CA and node
// bundles written as PEM files with private keys 0600).
//
// Imports: the standard library only.
package pki
