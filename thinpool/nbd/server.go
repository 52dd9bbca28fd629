package nbd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("nbd: server closed")

// Options tune a Server. Zero values take the defaults.
type Options struct {
	// MaxInFlight bounds the requests of one connection being handled at
	// once (default 16); the connection stops reading while it is full.
	MaxInFlight int
	// MaxBufferBytes bounds the payload bytes (write data read, read data
	// to send) one connection holds at once (default 64 MiB).
	MaxBufferBytes int64
	// MaxPayload is the largest READ or WRITE a client may send, advertised
	// as the maximum block size (default 32 MiB).
	MaxPayload uint32
	// HandshakeTimeout bounds option haggling (default 30s).
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 16
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = 32 << 20
	}
	if o.MaxBufferBytes <= 0 {
		o.MaxBufferBytes = 64 << 20
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server serves the exports of a Source to any number of connections.
type Server struct {
	src  Source
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	done      chan struct{} // closed when closed becomes true
	wg        sync.WaitGroup
}

// NewServer makes a server for one export, which it also serves under the
// default (empty) name.
func NewServer(exp *Export, opts Options) (*Server, error) {
	if err := exp.check(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	opts.Logger = opts.Logger.With("export", exp.Name)
	return NewSourceServer(single{exp}, opts), nil
}

// NewSourceServer makes a server for the exports of src, which may change
// while it serves: a client gets the export src has under the name it asks
// for at that moment.
func NewSourceServer(src Source, opts Options) *Server {
	opts = opts.withDefaults()
	return &Server{
		src:       src,
		opts:      opts,
		log:       opts.Logger,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		done:      make(chan struct{}),
	}
}

// Serve accepts connections on l until Shutdown or Close, and then returns
// ErrServerClosed. l is closed when Serve returns.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			select {
			case <-s.done:
				return ErrServerClosed
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of descriptors and the like: back off, keep serving.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("nbd: accept: %w", err)
		}
		delay = 0
		s.ServeConn(nc)
	}
}

// ServeConn serves one already accepted connection in the background (used
// by Serve, and by callers that hand over a socket of their own).
func (s *Server) ServeConn(nc net.Conn) {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Shutdown stops accepting, ends option haggling at once, lets every
// connection finish the requests it has read (and reply to them), flushes
// the device and closes the connections. When ctx ends first the remaining
// connections are closed hard and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop(false)
	wait := make(chan struct{})
	go func() { s.wg.Wait(); close(wait) }()
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		s.stop(true)
		<-wait
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once; in-flight
// requests finish against the device but their replies may be lost.
func (s *Server) Close() error {
	s.stop(true)
	s.wg.Wait()
	return nil
}

func (s *Server) stop(hard bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.stop(hard)
	}
}

// UnixURI is the NBD URI of an export on a unix socket, as qemu-img,
// qemu-io, nbdinfo and nbdcopy take it.
func UnixURI(socket, export string) string {
	u := url.URL{Scheme: "nbd+unix", Path: "/" + export, RawQuery: "socket=" + queryEscaper.Replace(socket)}
	return u.String()
}

// queryEscaper escapes what would end or garble a query value, and keeps
// the slashes of a path readable (the clients decode either form).
var queryEscaper = strings.NewReplacer("%", "%25", "&", "%26", "#", "%23", " ", "%20", "+", "%2B", ";", "%3B")

// TCPURI is the NBD URI of an export on a TCP address (host:port).
func TCPURI(addr, export string) string {
	u := url.URL{Scheme: "nbd", Host: addr, Path: "/" + export}
	return u.String()
}
