package pki

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestConnVerdicts: one verification per TLS connection however many
// requests it carries, a failed verdict is kept as well, and the entries
// of closed connections go away once collected.
func TestConnVerdicts(t *testing.T) {
	var c ConnVerdicts
	var calls atomic.Int64
	refuse := errors.New("refused")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := c.Get(r.TLS, func() (string, error) {
			calls.Add(1)
			if r.URL.Path == "/bad" {
				return "", refuse
			}
			return "node/n1", nil
		})
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	srv.StartTLS()
	get := func(hc *http.Client, path string) int {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	newClient := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}}
	}
	a, b := newClient(), newClient()
	for range 3 {
		if st := get(a, "/"); st != 200 {
			t.Fatalf("status %d", st)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d verifications for 3 requests on one connection, want 1", n)
	}
	if st := get(b, "/bad"); st != 401 {
		t.Fatalf("bad: status %d", st)
	}
	if st := get(b, "/"); st != 401 {
		t.Fatalf("refused connection's second request: status %d, want the kept verdict 401", st)
	}
	if n, m := calls.Load(), c.Len(); n != 2 || m != 2 {
		t.Fatalf("%d verifications, %d entries; want 2 and 2", n, m)
	}
	a.CloseIdleConnections()
	b.CloseIdleConnections()
	srv.Close()
	for i := 0; c.Len() > 0 && i < 200; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if m := c.Len(); m != 0 {
		t.Fatalf("%d entries left after the connections closed", m)
	}
}
