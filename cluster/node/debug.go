package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugServer serves Go's profiler (net/http/pprof) on Config.DebugBind, a
// listener of its own: profiles of one node process under load are how the
// control plane's costs were found (docs/bench-cluster.md), and a node in
// production should be as easy to look into. It has no authentication, so
// it is off unless configured, and belongs on loopback.
type debugServer struct {
	hs   *http.Server
	addr string
	done chan struct{}
}

// startDebug starts the debug listener when cfg asks for one (nil
// otherwise).
func startDebug(cfg *Config, lg *slog.Logger) (*debugServer, error) {
	if cfg.DebugBind == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.DebugBind)
	if err != nil {
		return nil, fmt.Errorf("debug listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	d := &debugServer{hs: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		if err := d.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			lg.Warn("debug listener", "err", err)
		}
	}()
	lg.Info("debug listener (pprof)", "addr", ln.Addr().String())
	return d, nil
}

func (d *debugServer) stop() {
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = d.hs.Shutdown(ctx)
	<-d.done
}
