package client

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
)

func errorAnswer(w http.ResponseWriter, status int, d api.ErrorDetail) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: d})
}

func testClient(t *testing.T, ca *x509.Certificate, retry time.Duration, eps ...string) *Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	c, err := New(Config{Endpoints: eps, Token: "t", CA: pool, RetryTimeout: retry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestRetryPolicy checks, against scripted servers, which answers the
// client retries and where it goes next.
func TestRetryPolicy(t *testing.T) {
	var leaderHits, followerHits, unavailHits, unknownHits atomic.Int64
	leader := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaderHits.Add(1)
		_ = json.NewEncoder(w).Encode(api.VGList{VGs: nil})
	}))
	defer leader.Close()
	leaderAddr := strings.TrimPrefix(leader.URL, "https://")
	// A follower that cannot reach the leader but names it.
	follower := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followerHits.Add(1)
		errorAnswer(w, 503, api.ErrorDetail{Code: api.CodeNotLeader, Message: "x", Leader: &api.LeaderRef{ID: "n1", APIAddr: leaderAddr}})
	}))
	defer follower.Close()
	unavailable := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unavailHits.Add(1)
		errorAnswer(w, 503, api.ErrorDetail{Code: "unavailable", Message: "node down"})
	}))
	defer unavailable.Close()
	var keysMu sync.Mutex
	var keys []string
	unknown := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unknownHits.Add(1)
		keysMu.Lock()
		keys = append(keys, r.Header.Get(api.HeaderIdempotencyKey))
		keysMu.Unlock()
		errorAnswer(w, 503, api.ErrorDetail{Code: api.CodeOutcomeUnknown, Message: "leader lost"})
	}))
	defer unknown.Close()
	ca := leader.Certificate()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// not_leader naming a leader outside the configured endpoints: the
	// client goes there.
	c := testClient(t, ca, 5*time.Second, strings.TrimPrefix(follower.URL, "https://"))
	if _, err := c.VGs(ctx); err != nil || leaderHits.Load() != 1 || followerHits.Load() != 1 {
		t.Fatalf("leader hint: err %v, leader hits %d, follower hits %d", err, leaderHits.Load(), followerHits.Load())
	}

	// unavailable is not an election: returned after one request.
	c = testClient(t, ca, 5*time.Second, strings.TrimPrefix(unavailable.URL, "https://"))
	if _, err := c.VGs(ctx); !errors.Is(err, ErrUnavailable) || unavailHits.Load() != 1 {
		t.Fatalf("unavailable: %v after %d requests", err, unavailHits.Load())
	}

	// outcome_unknown: a write is repeated with the same idempotency key
	// on every attempt, until the retry time runs out, and the last API
	// error is reported; the next call has a new key; reads carry none.
	c = testClient(t, ca, 700*time.Millisecond, strings.TrimPrefix(unknown.URL, "https://"))
	takeKeys := func() []string {
		keysMu.Lock()
		defer keysMu.Unlock()
		k := keys
		keys = nil
		return k
	}
	if _, err := c.DeleteVolume(ctx, "vg0", "v"); !errors.Is(err, ErrOutcomeUnknown) || unknownHits.Load() < 2 {
		t.Fatalf("delete: %v after %d requests", err, unknownHits.Load())
	}
	del := takeKeys()
	for _, k := range del {
		if k == "" || k != del[0] {
			t.Fatalf("delete attempts carried keys %q, want one key on all", del)
		}
	}
	unknownHits.Store(0)
	if _, err := c.VGs(ctx); !errors.Is(err, ErrOutcomeUnknown) || unknownHits.Load() < 2 {
		t.Fatalf("read: %v after %d requests", err, unknownHits.Load())
	}
	if k := takeKeys(); k[0] != "" {
		t.Fatalf("a read carried key %q", k[0])
	}
	unknownHits.Store(0)
	if _, err := c.CreateVG(ctx, api.VGCreateRequest{Name: "x"}); !errors.Is(err, ErrOutcomeUnknown) || unknownHits.Load() < 2 {
		t.Fatalf("create: %v after %d requests", err, unknownHits.Load())
	}
	if k := takeKeys(); k[0] == "" || k[0] == del[0] || k[len(k)-1] != k[0] {
		t.Fatalf("create keys %q (delete's %q): want a new key, the same on every attempt", k, del[0])
	}

	// A dead endpoint is skipped at once.
	dead := httptest.NewTLSServer(http.NotFoundHandler())
	deadAddr := strings.TrimPrefix(dead.URL, "https://")
	dead.Close()
	leaderHits.Store(0)
	c = testClient(t, ca, 5*time.Second, deadAddr, leaderAddr)
	var backoffs atomic.Int64
	c.after = func(d time.Duration) <-chan time.Time {
		backoffs.Add(1)
		return time.After(d)
	}
	if _, err := c.VGs(ctx); err != nil || leaderHits.Load() != 1 || backoffs.Load() != 0 {
		t.Fatalf("dead endpoint: %v, %d leader hits, %d backoffs (want none before the next endpoint)", err, leaderHits.Load(), backoffs.Load())
	}
}
