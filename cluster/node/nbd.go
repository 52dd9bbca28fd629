package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/thinraft/thinraft/thinpool/nbd"
)

// nbdService is the node's NBD listener: it serves the agent's exports
// (the active volumes of the node's pools, docs/nbd.md) once the agent
// runs. A nil *nbdService (no nbd_bind) does nothing.
type nbdService struct {
	ln   net.Listener
	addr string
	log  *slog.Logger

	mu   sync.Mutex
	srv  *nbd.Server
	done chan error
	shut bool
}

// listenNBD binds nbd_bind, before the node registers, so that the
// address it records is one it already holds.
func listenNBD(cfg *Config, lg *slog.Logger) (*nbdService, error) {
	if cfg.NBDBind == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.NBDBind)
	if err != nil {
		return nil, fmt.Errorf("nbd listen: %w", err)
	}
	addr := cfg.NBDAdvertise
	if addr == "" {
		addr = ln.Addr().String()
	}
	return &nbdService{ln: ln, addr: addr, log: lg.With("part", "nbd")}, nil
}

// advertise is the address recorded as the node's NBDAddr.
func (s *nbdService) advertise() string {
	if s == nil {
		return ""
	}
	return s.addr
}

// start serves src on the listener.
func (s *nbdService) start(src nbd.Source) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut || s.srv != nil {
		return
	}
	s.srv = nbd.NewSourceServer(src, nbd.Options{Logger: s.log})
	s.done = make(chan error, 1)
	go func() { s.done <- s.srv.Serve(s.ln) }()
	s.log.Info("nbd serving", "addr", s.addr)
}

// stop ends the service: connections finish the requests they sent and
// flush (for up to shutdownGrace), then close. Calling it again is a no-op.
func (s *nbdService) stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return
	}
	s.shut = true
	if s.srv == nil {
		_ = s.ln.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.log.Warn("nbd connections cut off at stop", "err", err)
	}
	if err := <-s.done; err != nil && !errors.Is(err, nbd.ErrServerClosed) {
		s.log.Warn("nbd serve", "err", err)
	}
	s.log.Info("nbd stopped")
}
