package raftnode

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
)

// DialTLS returns a TLS dialer for HTTPS clients between nodes (API
// forwarding, internal routes) that obeys f as the Raft transport does: a
// connection to a node whose link with local is cut is refused, and open
// ones are closed when the link is cut. Without it a partitioned node would
// still reach the leader over HTTPS and the partition would be only one of
// Raft's traffic. cfg must present local's node certificate.
func (f *Faults) DialTLS(local string, cfg *tls.Config, d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		td := &tls.Dialer{NetDialer: d, Config: cfg}
		c, err := td.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		peer, err := PeerNodeID(c)
		if err != nil {
			// Not a node (a client-facing address of some other kind):
			// nothing to govern.
			return c, nil
		}
		fc := &faultConn{Conn: c, local: local, peer: peer, faults: f}
		if !f.admit(fc) {
			c.Close()
			return nil, fmt.Errorf("%w: %s-%s", ErrPartitioned, local, peer)
		}
		return fc, nil
	}
}
