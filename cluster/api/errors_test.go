package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/api/apitest"
	"github.com/thinraft/thinraft/metadata"
)

type caller struct {
	t     *testing.T
	hc    *http.Client
	base  string
	token string
}

// do sends a request and returns the status, the decoded error (for
// statuses >= 400) and the raw body.
func (c caller) do(method, path, body string, hdr ...string) (int, api.ErrorDetail, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			c.t.Fatalf("%s %s: %d with body %q: not a JSON error", method, path, resp.StatusCode, data)
		}
		if bytes.Count(bytes.TrimSpace(data), []byte("\n")) != 0 || strings.ContainsAny(eb.Error.Message, "\r\n") {
			c.t.Errorf("%s %s: error is not one line: %q", method, path, data)
		}
	}
	return resp.StatusCode, eb.Error, data
}

func (c caller) ok(method, path, body string, want int) []byte {
	c.t.Helper()
	status, e, data := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: %d %+v, want %d", method, path, status, e, want)
	}
	return data
}

// TestErrorMapping sends every kind of refused request through a follower
// (so errors travel through forwarding too) and checks status, code and
// the JSON shape.
func TestErrorMapping(t *testing.T) {
	c := apitest.Start(t, 3)
	f := c.Follower()
	cl := caller{t: t, hc: rawClient(c, nil), base: "https://" + f.APIAddr, token: c.Token}

	cl.ok("POST", "/v1/vgs", `{"name":"vg0"}`, http.StatusCreated)
	cl.ok("POST", "/v1/vgs", `{"name":"small","max_volumes":1}`, http.StatusCreated)
	var pr api.PoolResponse
	if err := json.Unmarshal(cl.ok("POST", "/v1/vgs/vg0/pools", `{"name":"pool0","node":"n1","chunk_sectors":128,"data_bytes":1073741824,"meta_bytes":67108864}`, http.StatusCreated), &pr); err != nil {
		t.Fatal(err)
	}
	cl.ok("POST", "/v1/vgs/small/pools", `{"name":"p","node":"n2","chunk_sectors":128,"data_bytes":1073741824,"meta_bytes":67108864}`, http.StatusCreated)
	cl.ok("POST", "/v1/vgs", `{"name":"far"}`, http.StatusCreated)
	cl.ok("POST", "/v1/vgs/far/pools", `{"name":"p","node":"n3","chunk_sectors":128,"data_bytes":1073741824,"meta_bytes":67108864}`, http.StatusCreated)
	cl.ok("POST", "/v1/vgs/vg0/volumes", `{"name":"vol1","pool":"pool0","size_bytes":1048576}`, http.StatusAccepted)
	cl.ok("POST", "/v1/vgs/small/volumes", `{"name":"only","pool":"p","size_bytes":1048576}`, http.StatusAccepted)
	// vol2 is being deleted: a snapshot of it is a conflict.
	cl.ok("POST", "/v1/vgs/vg0/volumes", `{"name":"vol2","pool":"pool0","size_bytes":1048576}`, http.StatusAccepted)
	c.CompleteIntents(pr.Pool.UUID)
	cl.ok("DELETE", "/v1/vgs/vg0/volumes/vol2", "", http.StatusAccepted)

	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"missing volume", "GET", "/v1/vgs/vg0/volumes/nope", "", 404, "not_found"},
		{"missing VG", "GET", "/v1/vgs/nope/volumes", "", 404, "not_found"},
		{"missing operation", "GET", "/v1/operations/999999", "", 404, "not_found"},
		{"malformed operation id", "GET", "/v1/operations/abc", "", 404, "not_found"},
		{"unknown route", "GET", "/v1/nothing", "", 404, "not_found"},
		{"duplicate name", "POST", "/v1/vgs/vg0/volumes", `{"name":"vol1","pool":"pool0","size_bytes":1048576}`, 409, "exists"},
		{"duplicate VG", "POST", "/v1/vgs", `{"name":"vg0"}`, 409, "exists"},
		{"snapshot of a deleting volume", "POST", "/v1/vgs/vg0/volumes/vol2/snapshots", `{"name":"s"}`, 409, "conflict"},
		{"bad name", "POST", "/v1/vgs/vg0/volumes", `{"name":"bad/name","pool":"pool0","size_bytes":1048576}`, 400, "invalid"},
		{"unknown field", "POST", "/v1/vgs/vg0/volumes", `{"name":"v","pool":"pool0","size":1}`, 400, "invalid"},
		{"empty body", "POST", "/v1/vgs/vg0/volumes", "", 400, "invalid"},
		{"trailing data", "POST", "/v1/vgs", `{"name":"x"} {}`, 400, "invalid"},
		{"empty patch", "PATCH", "/v1/vgs/vg0/volumes/vol1", `{}`, 400, "invalid"},
		{"bad wait", "POST", "/v1/vgs/vg0/volumes?wait=soon", `{"name":"w","pool":"pool0","size_bytes":1048576}`, 400, "invalid"},
		{"bad limit", "GET", "/v1/vgs/vg0/volumes?limit=0", "", 400, "invalid"},
		{"bad stale", "GET", "/v1/vgs?stale=maybe", "", 400, "invalid"},
		{"quota", "POST", "/v1/vgs/small/volumes", `{"name":"second","pool":"p","size_bytes":1048576}`, 403, "quota"},
	}
	for _, tc := range cases {
		status, e, _ := cl.do(tc.method, tc.path, tc.body)
		if status != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %q (%s), want %d %q", tc.name, status, e.Code, e.Message, tc.status, tc.code)
		}
	}

	// no_space: the agent reports the pool out of data space.
	c.Apply(metadata.CmdPoolReportUsage, metadata.PoolReportUsage{Pool: pr.Pool.UUID,
		Usage: metadata.Usage{DataUsed: 10, DataTotal: 10, Mode: "out_of_data_space", ReportedAt: time.Now()}})
	if status, e, _ := cl.do("POST", "/v1/vgs/vg0/volumes", `{"name":"full","pool":"pool0","size_bytes":1048576}`); status != 507 || e.Code != "no_space" {
		t.Errorf("no_space: %d %+v", status, e)
	}
	// unavailable: the pool's node is down. Returned at once (not an
	// election to wait out).
	c.Apply(metadata.CmdNodeSetState, metadata.NodeSetState{ID: "n3", State: metadata.NodeDown})
	if status, e, _ := cl.do("POST", "/v1/vgs/far/volumes", `{"name":"v","pool":"p","size_bytes":1048576}`); status != 503 || e.Code != "unavailable" {
		t.Errorf("unavailable: %d %+v", status, e)
	}
	// not_leader: a request already forwarded once is not forwarded again;
	// the follower names the leader and its API address.
	l := c.Leader()
	status, e, _ := cl.do("GET", "/v1/vgs", "", "X-Thinraft-Forwarded-By", "n9")
	if status != 503 || e.Code != "not_leader" || e.Leader == nil || e.Leader.ID != l.ID || e.Leader.APIAddr != l.APIAddr {
		t.Errorf("not_leader: %d %+v %+v", status, e, e.Leader)
	}
	// The same request with ?stale=true is answered by the follower.
	if status, e, _ := cl.do("GET", "/v1/vgs?stale=true", "", "X-Thinraft-Forwarded-By", "n9"); status != 200 {
		t.Errorf("stale read on a follower: %d %+v", status, e)
	}
}

func TestStatusOf(t *testing.T) {
	want := map[string]int{
		"not_found": 404, "exists": 409, "conflict": 409, "invalid": 400, "no_space": 507, "quota": 403,
		"unavailable": 503, "not_leader": 503, "outcome_unknown": 503, "unauthorized": 401, "timeout": 504,
		"internal": 500, "something new": 500,
	}
	for code, status := range want {
		if got := api.StatusOf(code); got != status {
			t.Errorf("StatusOf(%q) = %d, want %d", code, got, status)
		}
	}
}
