package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/cluster/pki"
	"github.com/thinraft/thinraft/metadata"
)

// rig is a set of in-process nodes (node.Run in goroutines) sharing a CA.
type rig struct {
	t     *testing.T
	dir   string
	ca    *pki.CA
	token string
	logs  *syncBuf

	mu   sync.Mutex
	runs map[string]*run
}

type run struct {
	cfg    *Config
	cancel context.CancelFunc
	done   chan error
}

func newRig(t *testing.T) *rig {
	ca, err := pki.NewCA("node-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := pki.WriteFiles(dir, "ca", ca.Cert, nil); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dir: dir, ca: ca, token: "test-token-0123456789", logs: &syncBuf{}, runs: map[string]*run{}}
	t.Cleanup(func() {
		r.mu.Lock()
		ids := make([]string, 0, len(r.runs))
		for id := range r.runs {
			ids = append(ids, id)
		}
		r.mu.Unlock()
		for _, id := range ids {
			r.stop(id)
		}
		if t.Failed() {
			t.Logf("logs:\n%s", r.logs.String())
		}
	})
	return r
}

// freePort returns a port free at the time of the call.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// config writes node id's certificate and returns its configuration.
func (r *rig) config(id string) *Config {
	b, err := r.ca.IssueNode(id, nil, time.Hour)
	if err != nil {
		r.t.Fatal(err)
	}
	nd := filepath.Join(r.dir, id)
	if err := b.WriteFiles(nd, "node"); err != nil {
		r.t.Fatal(err)
	}
	return &Config{ID: id, DataDir: filepath.Join(nd, "data"),
		RaftBind: "127.0.0.1:" + freePort(r.t), APIBind: "127.0.0.1:" + freePort(r.t),
		CertFile: filepath.Join(nd, "node.crt"), KeyFile: filepath.Join(nd, "node.key"), CAFile: filepath.Join(r.dir, "ca.crt"),
		TokenHashes: []string{api.HashToken(r.token)}, Timing: "loopback", LogLevel: "debug"}
}

func (r *rig) start(cfg *Config) {
	ctx, cancel := context.WithCancel(context.Background())
	ru := &run{cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { ru.done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(r.logs, nil))) }()
	r.mu.Lock()
	r.runs[cfg.ID] = ru
	r.mu.Unlock()
}

// stop cancels a node's context and requires Run to return nil promptly.
func (r *rig) stop(id string) {
	r.mu.Lock()
	ru := r.runs[id]
	delete(r.runs, id)
	r.mu.Unlock()
	if ru == nil {
		return
	}
	ru.cancel()
	select {
	case err := <-ru.done:
		if err != nil {
			r.t.Errorf("node %s: Run: %v", id, err)
		}
	case <-time.After(30 * time.Second):
		r.t.Errorf("node %s: Run did not return after cancel", id)
	}
}

func (r *rig) client(apis ...string) *client.Client {
	pool := x509.NewCertPool()
	pool.AddCert(r.ca.Cert)
	cl, err := client.New(client.Config{Endpoints: apis, Token: r.token, CA: pool, RetryTimeout: 15 * time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(cl.Close)
	return cl
}

// members waits until the cluster lists want registered members.
func members(ctx context.Context, t *testing.T, cl *client.Client, want int) []metadata.Node {
	t.Helper()
	for {
		ns, err := cl.Nodes(ctx)
		if err == nil && len(ns) == want {
			return ns
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d members: %v (last %v, %d)", want, ctx.Err(), err, len(ns))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestBootstrapAndJoin: one node bootstraps alone, a second joins through
// the first's API as a voter, the third as a non-voter; all register
// their API addresses; a restart of a joined node comes back without
// joining again.
func TestBootstrapAndJoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	r := newRig(t)
	c1 := r.config("n1")
	c1.Bootstrap = []Peer{{ID: "n1", RaftAddr: c1.RaftBind, APIAddr: c1.APIBind}}
	r.start(c1)
	cl := r.client(c1.APIBind)
	members(ctx, t, cl, 1)

	c2 := r.config("n2")
	c2.Join = c1.APIBind
	r.start(c2)
	c3 := r.config("n3")
	c3.Join = c1.APIBind
	c3.NonVoter = true
	r.start(c3)
	ns := members(ctx, t, cl, 3)
	for _, n := range ns {
		want := map[string]string{"n1": c1.APIBind, "n2": c2.APIBind, "n3": c3.APIBind}[n.ID]
		if n.APIAddr != want {
			t.Errorf("node %s api %q, want %q", n.ID, n.APIAddr, want)
		}
		if n.Voter != (n.ID != "n3") {
			t.Errorf("node %s voter %v", n.ID, n.Voter)
		}
	}
	info, err := cl.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Raft) != 3 {
		t.Fatalf("raft configuration %+v, want 3 servers", info.Raft)
	}

	// A write through the joined node reaches the leader.
	if _, err := r.client(c2.APIBind).CreateVG(ctx, api.VGCreateRequest{Name: "vg1"}); err != nil {
		t.Fatalf("create vg through n2: %v", err)
	}
	r.stop("n2")
	r.start(c2)
	if _, err := r.client(c2.APIBind).VG(ctx, "vg1"); err != nil {
		t.Fatalf("read through restarted n2: %v", err)
	}
}

// TestInternalRoutesNodeOnly: the internal routes refuse callers without
// a node certificate of the cluster CA, whatever else they present.
func TestInternalRoutesNodeOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := newRig(t)
	c1 := r.config("n1")
	c1.Bootstrap = []Peer{{ID: "n1", RaftAddr: c1.RaftBind, APIAddr: c1.APIBind}}
	r.start(c1)
	members(ctx, t, r.client(c1.APIBind), 1)

	roots := x509.NewCertPool()
	roots.AddCert(r.ca.Cert)
	cert := func(b *pki.Bundle) []tls.Certificate {
		return []tls.Certificate{{Certificate: [][]byte{b.Cert.Raw}, PrivateKey: b.Key}}
	}
	clientB, err := r.ca.IssueClient("admin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := pki.NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := otherCA.IssueNode("n9", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	member, err := r.ca.IssueNode("n7", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := metadata.Encode(metadata.CmdVGCreate, time.Now(), map[string]string{"uuid": "5c2a4f1e-9d0b-4e7a-8f31-2b6c7d8e9f00", "name": "vgx"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(certs []tls.Certificate, token string) (int, string) {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
		defer hc.CloseIdleConnections()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+c1.APIBind+routePropose, bytes.NewReader(cmd))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for name, tc := range map[string]struct {
		certs []tls.Certificate
		token string
	}{
		"nothing":        {},
		"token":          {token: r.token},
		"client cert":    {certs: cert(clientB)},
		"foreign node":   {certs: cert(foreign)},
		"client + token": {certs: cert(clientB), token: r.token},
	} {
		if code, body := post(tc.certs, tc.token); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, code, body)
		}
	}
	code, body := post(cert(member), "")
	if code != http.StatusOK {
		t.Fatalf("node certificate: %d %s", code, body)
	}
	var res metadata.Result
	if err := json.Unmarshal([]byte(body), &res); err != nil || res.Index == 0 || res.Err != nil {
		t.Fatalf("node certificate: result %s (%v)", body, err)
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	good := Config{ID: "n1", DataDir: dir, RaftBind: "127.0.0.1:1", APIBind: "127.0.0.1:2", CertFile: "c", KeyFile: "k", CAFile: "a",
		TokenHashes: []string{"sha256:00"}, Bootstrap: []Peer{{ID: "n1", RaftAddr: "x:1", APIAddr: "x:2"}},
		ReportInterval: Duration(3 * time.Second)}
	p := filepath.Join(dir, "n1.json")
	if err := WriteConfig(p, &good); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Engine != EngineEmu || time.Duration(got.ReportInterval) != 3*time.Second {
		t.Fatalf("loaded %+v", got)
	}
	for name, mut := range map[string]func(c *Config){
		"no id":             func(c *Config) { c.ID = "" },
		"bad engine":        func(c *Config) { c.Engine = "lvm" },
		"bad timing":        func(c *Config) { c.Timing = "wan" },
		"no tokens":         func(c *Config) { c.TokenHashes = nil },
		"bootstrap + join":  func(c *Config) { c.Join = "x:2" },
		"self not in peers": func(c *Config) { c.Bootstrap = []Peer{{ID: "n2", RaftAddr: "x:1", APIAddr: "x:2"}} },
		"no api bind":       func(c *Config) { c.APIBind = "" },
	} {
		c := good
		mut(&c)
		if err := c.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := os.WriteFile(p, []byte(`{"id":"n1","data_dir":"d","raft_bnd":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), "raft_bnd") {
		t.Fatalf("misspelt field: %v", err)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
