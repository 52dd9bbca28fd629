package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/pki"
	ucli "github.com/urfave/cli/v3"
)

func TestDriverServeUsage(t *testing.T) {
	cases := []struct {
		name string
		argv []string
		code int
	}{
		{"no vg", []string{"thinraft", "driver", "serve"}, ExitInvalid},
		{"stray argument", []string{"thinraft", "driver", "serve", "--vg", "vg0", "extra"}, ExitInvalid},
		{"no client config", []string{"thinraft", "--cluster-config", "/nonexistent/client.json", "driver", "serve", "--vg", "vg0"}, ExitInvalid},
		{"no subcommand", []string{"thinraft", "driver"}, ExitInvalid},
	}
	for _, c := range cases {
		root := &ucli.Command{Name: "thinraft", Commands: []*ucli.Command{DriverCommand()},
			Flags:          []ucli.Flag{&ucli.StringFlag{Name: flagClusterConfig}},
			ExitErrHandler: func(context.Context, *ucli.Command, error) {}}
		err := root.Run(context.Background(), c.argv)
		if got := ExitCode(err); got != c.code {
			t.Errorf("%s: exit %d (%v), want %d", c.name, got, err, c.code)
		}
	}
}

func TestDriverToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	h, err := withToken(ok, "secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		header string
		want   int
	}{{"", 401}, {"Bearer wrong", 401}, {"secret", 401}, {"Bearer secret", 200}} {
		r := httptest.NewRequest(http.MethodPost, "/cinder/v1/get_volume_stats", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("Authorization %q: %d, want %d", c.header, w.Code, c.want)
		}
	}
	if _, err := withToken(ok, ""); err == nil {
		t.Error("an empty token was accepted")
	}
}

// TestDriverServe runs `driver serve` with a client configuration (no
// cluster behind it: migrate_volume needs none), calls it over HTTP with
// and without the token, and stops it by cancelling its context.
func TestDriverServe(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("driver-serve-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFiles(dir, "ca", ca.Cert, nil); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"token": "tok\n", "driver-token": "drv\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "client.json")
	if err := WriteClientConfig(cfg, ClientConfig{Endpoints: []string{"127.0.0.1:1"}, CAFile: "ca.crt", TokenFile: "token"}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		root := &ucli.Command{Name: "thinraft", Commands: []*ucli.Command{DriverCommand()},
			Flags:          []ucli.Flag{&ucli.StringFlag{Name: flagClusterConfig}},
			ExitErrHandler: func(context.Context, *ucli.Command, error) {}}
		done <- root.Run(ctx, []string{"thinraft", "--cluster-config", cfg, "driver", "serve", "--vg", "vg0",
			"--listen", addr, "--token-file", filepath.Join(dir, "driver-token")})
	}()
	call := func(token string) (int, string) {
		for {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/cinder/v1/migrate_volume",
				strings.NewReader(`{"volume":{"id":"a","size":1},"host":{"host":"h"}}`))
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				select {
				case err := <-done:
					t.Fatalf("driver serve exited: %v", err)
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
	}
	if code, body := call(""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d %s", code, body)
	}
	if code, body := call("drv"); code != http.StatusNotImplemented || !strings.Contains(body, `"not_supported"`) {
		t.Errorf("with the token: %d %s, want 501 not_supported", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("driver serve after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("driver serve did not stop")
	}
}
