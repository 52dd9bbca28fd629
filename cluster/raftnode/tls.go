package raftnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/thinraft/thinraft/cluster/pki"
)

// DefaultHandshakeTimeout bounds a TLS handshake on either side, so a peer
// that connects and stalls holds a goroutine for at most this long.
const DefaultHandshakeTimeout = 5 * time.Second

// ErrPeerIdentity means the peer's certificate chained to the cluster CA but
// named the wrong principal (a client, or another node than expected).
var ErrPeerIdentity = errors.New("raftnode: peer identity rejected")

// TLSLayer is a raft.StreamLayer carrying every Raft RPC over mutually
// authenticated TLS 1.3. Both ends present node certificates of the cluster
// CA; the accepting side requires and verifies the client certificate, the
// dialling side verifies the server certificate for the dialled host and,
// when it knows which node lives at that address, for that node id.
type TLSLayer struct {
	ln        net.Listener
	advertise net.Addr
	ident     *pki.Identity
	server    *tls.Config
	timeout   time.Duration

	// lookup maps a dialled address to the node ids the Raft configuration
	// places there; set once by the Node after raft starts.
	lookup atomic.Pointer[func(raft.ServerAddress) []raft.ServerID]

	refused atomic.Int64
	lastErr atomic.Pointer[string]
}

// NewTLSLayer listens on bind ("127.0.0.1:0" for an ephemeral port).
// advertise is the address peers dial ("" means the listener's address);
// it must be a host the node certificate names.
func NewTLSLayer(bind, advertise string, ident *pki.Identity) (*TLSLayer, error) {
	if ident == nil || ident.Role != pki.RoleNode {
		return nil, fmt.Errorf("raftnode: TLS layer needs a node identity")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raftnode: listen %s: %w", bind, err)
	}
	var adv net.Addr = ln.Addr()
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("raftnode: advertise address %q: %w", advertise, err)
		}
		if a.IP == nil || a.IP.IsUnspecified() {
			ln.Close()
			return nil, fmt.Errorf("raftnode: advertise address %q is not routable", advertise)
		}
		adv = a
	} else if tcp, ok := adv.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raftnode: bind %s is a wildcard; set an advertise address", bind)
	}
	l := &TLSLayer{ln: ln, advertise: adv, ident: ident, timeout: DefaultHandshakeTimeout}
	l.server = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{ident.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ident.Roots,
		// Chain and client-auth usage are verified by crypto/tls; the role
		// check keeps API client certificates off the Raft port.
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := nodeIDOf(cs)
			return err
		},
	}
	return l, nil
}

// setLookup installs the address-to-node-id map used on dial.
func (l *TLSLayer) setLookup(f func(raft.ServerAddress) []raft.ServerID) { l.lookup.Store(&f) }

// Accept returns the next inbound connection. The handshake runs lazily in
// the connection's own goroutine (raft reads from it there), so one stalled
// peer cannot hold up the accept loop.
func (l *TLSLayer) Accept() (net.Conn, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, l.server), layer: l}, nil
}

// Close stops the listener.
func (l *TLSLayer) Close() error { return l.ln.Close() }

// Addr is the advertised address: raft takes its own address from here.
func (l *TLSLayer) Addr() net.Addr { return l.advertise }

// Dial connects to a peer and completes the handshake before returning, so
// an untrusted server is never handed a single Raft byte.
func (l *TLSLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	var want []raft.ServerID
	if f := l.lookup.Load(); f != nil {
		want = (*f)(address)
	}
	return l.dial(address, want, timeout)
}

// DialNode connects to address and requires its certificate to name node
// id: the probe Join runs before it adds a server.
func (l *TLSLayer) DialNode(address raft.ServerAddress, id raft.ServerID, timeout time.Duration) (net.Conn, error) {
	return l.dial(address, []raft.ServerID{id}, timeout)
}

func (l *TLSLayer) dial(address raft.ServerAddress, want []raft.ServerID, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 || timeout > l.timeout {
		timeout = l.timeout
	}
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, fmt.Errorf("raftnode: dial %q: %w", address, err)
	}
	raw, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{l.ident.Certificate},
		RootCAs:      l.ident.Roots,
		ServerName:   host,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := nodeIDOf(cs)
			if err != nil {
				return err
			}
			if len(want) == 0 {
				return nil
			}
			for _, w := range want {
				if raft.ServerID(id) == w {
					return nil
				}
			}
			return fmt.Errorf("%w: %s presented node %q, configuration expects %v", ErrPeerIdentity, address, id, want)
		},
	}
	c := tls.Client(raw, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		l.noteRefusal(fmt.Sprintf("dial %s: %v", address, err))
		return nil, fmt.Errorf("raftnode: TLS to %s: %w", address, err)
	}
	return c, nil
}

func (l *TLSLayer) noteRefusal(msg string) {
	l.refused.Add(1)
	l.lastErr.Store(&msg)
}

// Refused counts handshakes this layer failed, inbound or outbound, and
// describes the last one: operators see rejected peers in Stats, tests
// assert the refusal happened at the TLS layer.
func (l *TLSLayer) Refused() (int64, string) {
	s := ""
	if p := l.lastErr.Load(); p != nil {
		s = *p
	}
	return l.refused.Load(), s
}

// nodeIDOf returns the node id of a verified peer, refusing any other role.
func nodeIDOf(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", fmt.Errorf("%w: no certificate", ErrPeerIdentity)
	}
	role, name, err := pki.IdentityOf(cs.PeerCertificates[0])
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrPeerIdentity, err)
	}
	if role != pki.RoleNode {
		return "", fmt.Errorf("%w: %s %q is not a node", ErrPeerIdentity, role, name)
	}
	return name, nil
}

// PeerNodeID completes the handshake if needed and returns the node id the
// peer's certificate names.
func PeerNodeID(c net.Conn) (string, error) {
	switch t := c.(type) {
	case *serverConn:
		if err := t.handshake(); err != nil {
			return "", err
		}
		return nodeIDOf(t.Conn.ConnectionState())
	case *tls.Conn:
		if err := t.Handshake(); err != nil {
			return "", err
		}
		return nodeIDOf(t.ConnectionState())
	}
	return "", fmt.Errorf("raftnode: %T is not a TLS connection", c)
}

// serverConn is an accepted connection whose handshake runs, with a
// deadline, on first use; a failed handshake is counted and closes it.
type serverConn struct {
	*tls.Conn
	layer *TLSLayer
	once  sync.Once
	err   error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.layer.timeout)
		defer cancel()
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.err = fmt.Errorf("raftnode: TLS from %s: %w", c.RemoteAddr(), err)
			c.layer.noteRefusal(c.err.Error())
			c.Conn.Close()
		}
	})
	return c.err
}

func (c *serverConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *serverConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
