package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/node"
	"github.com/thinraft/thinraft/cluster/node/nodetest"
	"github.com/thinraft/thinraft/cluster/pki"
	"github.com/thinraft/thinraft/metadata"
)

// routePropose is the internal propose route, spelt out rather than
// exported: it is a contract between nodes of different builds, so a
// rename on one side must fail this test.
const routePropose = "/v1/internal/propose"

// TestBootstrapAndJoin: one node bootstraps alone, a second joins through
// the first's API as a voter, the third as a non-voter; all register
// their API addresses; a restart of a joined node comes back without
// joining again.
func TestBootstrapAndJoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	c := nodetest.New(t, nodetest.Options{})
	c1 := c.Add("n1")
	c.Bootstrap("n1")
	c.Start("n1")
	cl := c.Client(c1.APIBind)
	c.WaitMembers(ctx, cl, 1)

	c2 := c.Add("n2")
	c2.Join = c1.APIBind
	c.Start("n2")
	c3 := c.Add("n3")
	c3.Join = c1.APIBind
	c3.NonVoter = true
	c.Start("n3")
	ns := c.WaitMembers(ctx, cl, 3)
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
	if _, err := c.Client(c2.APIBind).CreateVG(ctx, api.VGCreateRequest{Name: "vg1"}); err != nil {
		t.Fatalf("create vg through n2: %v", err)
	}
	c.Restart("n2")
	if _, err := c.Client(c2.APIBind).VG(ctx, "vg1"); err != nil {
		t.Fatalf("read through restarted n2: %v", err)
	}
}

// TestInternalRoutesNodeOnly: the internal routes refuse callers without
// a node certificate of the cluster CA, whatever else they present.
func TestInternalRoutesNodeOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := nodetest.Start(t, 1, nodetest.Options{})
	c.WaitReady(ctx, c.Client())
	c1 := c.Config("n1")
	roots := c.CA.Pool()
	cert := func(b *pki.Bundle) []tls.Certificate {
		return []tls.Certificate{{Certificate: [][]byte{b.Cert.Raw}, PrivateKey: b.Key}}
	}
	clientB, err := c.CA.IssueClient("admin", time.Hour)
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
	member, err := c.CA.IssueNode("n7", nil, time.Hour)
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
		"token":          {token: c.Token},
		"client cert":    {certs: cert(clientB)},
		"foreign node":   {certs: cert(foreign)},
		"client + token": {certs: cert(clientB), token: c.Token},
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
	good := node.Config{ID: "n1", DataDir: dir, RaftBind: "127.0.0.1:1", APIBind: "127.0.0.1:2", CertFile: "c", KeyFile: "k", CAFile: "a",
		TokenHashes: []string{"sha256:00"}, Bootstrap: []node.Peer{{ID: "n1", RaftAddr: "x:1", APIAddr: "x:2"}},
		ReportInterval: node.Duration(3 * time.Second)}
	p := filepath.Join(dir, "n1.json")
	if err := node.WriteConfig(p, &good); err != nil {
		t.Fatal(err)
	}
	got, err := node.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Engine != node.EngineEmu || time.Duration(got.ReportInterval) != 3*time.Second {
		t.Fatalf("loaded %+v", got)
	}
	for name, mut := range map[string]func(c *node.Config){
		"no id":             func(c *node.Config) { c.ID = "" },
		"bad engine":        func(c *node.Config) { c.Engine = "lvm" },
		"bad timing":        func(c *node.Config) { c.Timing = "wan" },
		"no tokens":         func(c *node.Config) { c.TokenHashes = nil },
		"bootstrap + join":  func(c *node.Config) { c.Join = "x:2" },
		"self not in peers": func(c *node.Config) { c.Bootstrap = []node.Peer{{ID: "n2", RaftAddr: "x:1", APIAddr: "x:2"}} },
		"no api bind":       func(c *node.Config) { c.APIBind = "" },
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
	if _, err := node.LoadConfig(p); err == nil || !strings.Contains(err.Error(), "raft_bnd") {
		t.Fatalf("misspelt field: %v", err)
	}
}
