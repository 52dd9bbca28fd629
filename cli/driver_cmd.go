package cli

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/driver"
	ucli "github.com/urfave/cli/v3"
)

// DriverCommand is `thinraft driver serve`: the Cinder-style driver calls
// (package driver) served over HTTP for a Cinder volume service (or any
// orchestrator) to call; docs/cinder.md.
func DriverCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "driver",
		Usage: "the Cinder-style volume driver",
		Commands: []*ucli.Command{{
			Name:  "serve",
			Usage: "serve the driver's calls over HTTP (POST /cinder/v1/<call>)",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "listen", Value: "127.0.0.1:7480", Usage: "address to serve on"},
				&ucli.StringFlag{Name: "vg", Usage: "the VG the backend's volumes live in (required)"},
				&ucli.StringFlag{Name: "backend-name", Value: "thinraft", Usage: "volume_backend_name"},
				&ucli.StringSliceFlag{Name: "pool", Usage: "a pool of the VG the backend places volumes in (repeat; default every pool)"},
				&ucli.IntFlag{Name: "reserved-percentage", Usage: "Cinder's reserved_percentage, reported to the scheduler"},
				&ucli.FloatFlag{Name: "max-over-subscription-ratio", Value: 20, Usage: "Cinder's max_over_subscription_ratio, reported"},
				&ucli.IntFlag{Name: "pool-reserve-percent", Value: 10, Usage: "the agents' thinpool reserve (docs/thinpool.md); free capacity excludes it"},
				&ucli.DurationFlag{Name: "op-timeout", Value: 2 * time.Minute, Usage: "how long a call waits for the pool's agent"},
				&ucli.StringFlag{Name: "token-file", Usage: "require Authorization: Bearer <this file's token> on every call"},
			},
			Action: driverServe,
		}},
		Action: needSub,
	}
}

func driverServe(ctx context.Context, cmd *ucli.Command) error {
	if cmd.Args().Len() > 0 {
		return usagef("driver serve takes no arguments (got %q); use flags", cmd.Args().Slice())
	}
	if cmd.String("vg") == "" {
		return usagef("driver serve: --vg is required (the VG the backend's volumes live in)")
	}
	path, err := configPath(cmd.String(flagClusterConfig), os.Getenv)
	if err != nil {
		return err
	}
	ccfg, err := LoadClientConfig(path)
	if err != nil {
		return err
	}
	cl, err := client.New(ccfg)
	if err != nil {
		return failf("connect: %v", err)
	}
	defer cl.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	d, err := driver.New(cl, driver.Config{
		VG: cmd.String("vg"), BackendName: cmd.String("backend-name"), Pools: cmd.StringSlice("pool"),
		ReservedPercentage: int(cmd.Int("reserved-percentage")), MaxOverSubscriptionRatio: cmd.Float("max-over-subscription-ratio"),
		PoolReservePercent: int(cmd.Int("pool-reserve-percent")), OpTimeout: cmd.Duration("op-timeout"), Logger: logger,
	})
	if err != nil {
		return usagef("%v", err)
	}
	h := driver.Handler(d)
	if tf := cmd.String("token-file"); tf != "" {
		tok, err := os.ReadFile(tf)
		if err != nil {
			return failf("driver serve: token file: %v", err)
		}
		if h, err = withToken(h, strings.TrimSpace(string(tok))); err != nil {
			return usagef("driver serve: %v", err)
		}
	}
	ln, err := net.Listen("tcp", cmd.String("listen"))
	if err != nil {
		return failf("driver serve: %v; choose a free address with --listen", err)
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); cmd.String("token-file") == "" && !net.ParseIP(host).IsLoopback() {
		logger.Warn("serving without authentication on a non-loopback address; pass --token-file", "addr", ln.Addr().String())
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("driver serving", "addr", ln.Addr().String(), "vg", cmd.String("vg"), "backend", cmd.String("backend-name"))
	select {
	case err := <-errc:
		return failf("driver serve: %v", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return failf("driver serve: shutdown: %v", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return failf("driver serve: %v", err)
	}
	return nil
}

// withToken refuses requests without the bearer token, comparing hashes in
// constant time.
func withToken(h http.Handler, token string) (http.Handler, error) {
	if token == "" {
		return nil, fmt.Errorf("the token file is empty")
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, `{"error":{"code":"unauthorized","message":"send Authorization: Bearer <token> (the driver's --token-file)"}}`)
			return
		}
		h.ServeHTTP(w, r)
	}), nil
}
