package api_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/api/apitest"
	"github.com/thinraft/thinraft/cluster/pki"
)

// rawClient is an HTTPS client trusting the cluster CA, presenting cert if
// given.
func rawClient(c *apitest.Cluster, cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: c.CA.Pool()}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

func get(t *testing.T, hc *http.Client, url, token string) (int, api.ErrorBody) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" {
			t.Fatalf("GET %s: %d with a non-JSON error %q", url, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, eb
}

func bundleCert(b *pki.Bundle) *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{b.Cert.Raw}, PrivateKey: b.Key, Leaf: b.Cert}
}

// TestAuthRefused is the API half of the issue's must-show: calls without
// valid credentials are refused with 401 and a JSON error; a good token or
// a client certificate of the cluster CA is accepted.
func TestAuthRefused(t *testing.T) {
	c := apitest.Start(t, 1)
	url := "https://" + c.Node("n1").APIAddr + "/v1/vgs"

	good, err := c.CA.IssueClient("operator", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.IssueClient("operator", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	selfSigned, err := pki.SelfSignedNode("n1")
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		cert   *tls.Certificate
		token  string
		status int
	}{
		{"no credentials", nil, "", http.StatusUnauthorized},
		{"wrong token", nil, "not-the-token", http.StatusUnauthorized},
		{"token with a different case", nil, strings.ToUpper(c.Token), http.StatusUnauthorized},
		{"client cert of another CA", bundleCert(foreign), "", http.StatusUnauthorized},
		{"self-signed node cert", bundleCert(selfSigned), "", http.StatusUnauthorized},
		{"good cert with a wrong token", bundleCert(good), "wrong", http.StatusUnauthorized},
		{"good token", nil, c.Token, http.StatusOK},
		{"good client cert", bundleCert(good), "", http.StatusOK},
		{"good token and cert of another CA", bundleCert(foreign), c.Token, http.StatusOK},
	}
	for _, tc := range cases {
		status, eb := get(t, rawClient(c, tc.cert), url, tc.token)
		if status != tc.status {
			t.Errorf("%s: status %d (%+v), want %d", tc.name, status, eb, tc.status)
			continue
		}
		if status == http.StatusUnauthorized && eb.Error.Code != api.CodeUnauthorized {
			t.Errorf("%s: code %q", tc.name, eb.Error.Code)
		}
	}

	// Unknown routes are behind authentication too.
	if status, _ := get(t, rawClient(c, nil), "https://"+c.Node("n1").APIAddr+"/v1/nothing", ""); status != http.StatusUnauthorized {
		t.Errorf("unknown route without credentials: %d", status)
	}
	// Plain HTTP to the TLS listener gets no API answer.
	resp, err := http.Get("http://" + c.Node("n1").APIAddr + "/v1/vgs")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || strings.Contains(string(body), "vgs") {
			t.Errorf("plain HTTP answered %d %q", resp.StatusCode, body)
		}
	}
	// The handler itself refuses a request that did not come over TLS,
	// even with the right token (a misconfigured plain listener).
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/vgs", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	c.Node("n1").API.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("handler without TLS: %d", rec.Code)
	}
}

func TestTokenHashConfig(t *testing.T) {
	c := apitest.Start(t, 1)
	n := c.Node("n1")
	for _, bad := range []string{"plain-token", "sha256:zz", "sha256:abcd"} {
		if _, err := api.New(api.Config{Applier: n.Raft, FSM: n.FSM, Identity: n.Identity, TokenHashes: []string{bad}}); err == nil {
			t.Errorf("token hash %q accepted", bad)
		}
	}
	if h := api.HashToken("x"); !strings.HasPrefix(h, "sha256:") || h == api.HashToken("y") {
		t.Errorf("HashToken: %q", h)
	}
}
