package api

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/thinraft/thinraft/cluster/pki"
	"github.com/thinraft/thinraft/cluster/raftnode"
	"github.com/thinraft/thinraft/metadata"
)

// Applier commits commands and answers leadership questions;
// *raftnode.Node satisfies it.
type Applier interface {
	Apply(ctx context.Context, cmd []byte) (raftnode.Result, error)
	LinearizableRead(ctx context.Context) error
	IsLeader() bool
	// Leader returns the leader's node id and Raft address ("" if none).
	Leader() (id, addr string)
	// Remove takes a node out of the Raft configuration (leader only;
	// idempotent).
	Remove(ctx context.Context, id string) error
}

var _ Applier = (*raftnode.Node)(nil)

// Defaults for zero values in Config.
const (
	DefaultForwardTimeout = 5 * time.Second
	DefaultMaxWait        = time.Minute
	DefaultPageSize       = 100
	MaxPageSize           = 1000
	maxBodyBytes          = 1 << 20
)

// Config describes one node's API server.
type Config struct {
	// NodeID is this node's id.
	NodeID string
	// Applier is this node's Raft node.
	Applier Applier
	// FSM is this node's replica of the model.
	FSM *metadata.FSM
	// Identity is the node's certificate: served to clients and presented
	// to the leader when forwarding.
	Identity *pki.Identity
	// TokenHashes are the accepted bearer tokens, as HashToken gives them.
	TokenHashes []string
	// ClientCAs verify client certificates; nil means Identity.Roots (the
	// cluster CA).
	ClientCAs *x509.CertPool
	// PeerAPIAddrs maps node ids to API host:port, overriding the APIAddr
	// of the node's metadata record.
	PeerAPIAddrs map[string]string
	// ForwardTimeout bounds how long a follower keeps trying to reach a
	// leader (elections) before answering 503.
	ForwardTimeout time.Duration
	// MaxWait caps ?wait=.
	MaxWait time.Duration
	// Now is the leader's clock for command timestamps (default time.Now).
	Now func() time.Time
	// DialTLS, if set, makes the connections to the leader when
	// forwarding, instead of a plain TLS dial with Identity (fault
	// injection: raftnode.Faults.DialTLS).
	DialTLS func(ctx context.Context, network, addr string) (net.Conn, error)
	// ErrorLog receives http.Server's errors (default: discarded).
	ErrorLog *log.Logger
}

// Server is one node's API server.
type Server struct {
	cfg    Config
	tokens [][]byte
	mux    *http.ServeMux
	fwd    *http.Client
	http   *http.Server
	// verdicts caches client-certificate verification per connection.
	verdicts pki.ConnVerdicts
}

// New checks cfg and builds the server's routes.
func New(cfg Config) (*Server, error) {
	if cfg.Applier == nil || cfg.FSM == nil || cfg.Identity == nil {
		return nil, errors.New("api: Applier, FSM and Identity are required")
	}
	if cfg.NodeID == "" {
		cfg.NodeID = cfg.Identity.Name
	}
	if cfg.ClientCAs == nil {
		cfg.ClientCAs = cfg.Identity.Roots
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = log.New(discard{}, "", 0)
	}
	tokens, err := parseTokenHashes(cfg.TokenHashes)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, tokens: tokens, mux: http.NewServeMux()}
	s.fwd = &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{
			RootCAs:      cfg.Identity.Roots,
			Certificates: []tls.Certificate{cfg.Identity.Certificate},
			MinVersion:   tls.VersionTLS13,
		},
		// A dead leader's address must fail fast so the retry loop can
		// move on to the next leader.
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		DialTLSContext:      cfg.DialTLS,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}}
	s.routes()
	// Built here, not in Serve, so Close and Shutdown may race Serve.
	s.http = &http.Server{
		Handler:           s.mux,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          cfg.ErrorLog,
	}
	return s, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TLSConfig is the server side of the API's TLS: the node certificate,
// and client certificates requested but checked per request (auth.go).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.cfg.Identity.Certificate},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	}
}

// Handler is the API's http.Handler; it expects TLS connections.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves HTTPS on ln until Shutdown or Close. Call it once.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops Serve, waiting for requests in flight until ctx ends;
// then it closes what remains.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.fwd.CloseIdleConnections()
	if err := s.http.Shutdown(ctx); err != nil {
		return errors.Join(err, s.http.Close())
	}
	return nil
}

// Close stops the server at once, dropping requests in flight (a crashed
// node, in tests).
func (s *Server) Close() error {
	defer s.fwd.CloseIdleConnections()
	return s.http.Close()
}

// apiAddrOf is a node's API address: the configured mapping first, then
// its metadata record.
func (s *Server) apiAddrOf(id string) string {
	if a := s.cfg.PeerAPIAddrs[id]; a != "" {
		return a
	}
	var addr string
	s.cfg.FSM.Read(func(v metadata.View) {
		if n, ok := v.Node(id); ok {
			addr = n.APIAddr
		}
	})
	return addr
}

// newUUID returns a random (version 4) uuid; only the leader calls it.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("api: uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
