package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/api/apitest"
	"github.com/thinraft/thinraft/metadata"
)

// TestExportRoute: GET .../export names the pool's node and its NBD
// address for an active volume, refuses an inactive one with a message
// naming lvchange -ay, and a node without an NBD address with one naming
// nbd_bind; PATCH active switches it.
func TestExportRoute(t *testing.T) {
	c := apitest.Start(t, 1)
	cl := caller{t: t, hc: rawClient(c, nil), base: "https://" + c.Node("n1").APIAddr, token: c.Token}
	cl.ok("POST", "/v1/vgs", `{"name":"vg0"}`, http.StatusCreated)
	var pr api.PoolResponse
	json.Unmarshal(cl.ok("POST", "/v1/vgs/vg0/pools", `{"name":"pool0","node":"n1","chunk_sectors":128,"data_bytes":1073741824,"meta_bytes":67108864}`, http.StatusCreated), &pr)
	cl.ok("POST", "/v1/vgs/vg0/volumes", `{"name":"lv1","pool":"pool0","size_bytes":1048576}`, http.StatusAccepted)
	cl.ok("POST", "/v1/vgs/vg0/volumes", `{"name":"skip","pool":"pool0","size_bytes":1048576,"activation_skip":true}`, http.StatusAccepted)

	status, e, _ := cl.do("GET", "/v1/vgs/vg0/volumes/lv1/export", "")
	if status != http.StatusConflict || !strings.Contains(e.Message, "wait for its operation") {
		t.Fatalf("export of a creating volume: %d %+v", status, e)
	}
	c.CompleteIntents(pr.Pool.UUID)
	status, e, _ = cl.do("GET", "/v1/vgs/vg0/volumes/lv1/export", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(e.Message, "nbd_bind") {
		t.Fatalf("export on a node without NBD address: %d %+v", status, e)
	}
	nd := c.Node("n1")
	c.Apply(metadata.CmdNodeJoin, metadata.NodeJoin{ID: "n1", Name: "n1", Addr: nd.Raft.Addr(), APIAddr: nd.APIAddr, NBDAddr: "127.0.0.1:7402", Voter: true})

	var got api.ExportInfo
	if err := json.Unmarshal(cl.ok("GET", "/v1/vgs/vg0/volumes/lv1/export", "", http.StatusOK), &got); err != nil {
		t.Fatal(err)
	}
	want := api.ExportInfo{Node: "n1", Address: "127.0.0.1:7402", Export: "vg0/lv1", URI: "nbd://127.0.0.1:7402/vg0/lv1", Active: true}
	if got != want {
		t.Fatalf("export info %+v, want %+v", got, want)
	}

	status, e, _ = cl.do("GET", "/v1/vgs/vg0/volumes/skip/export", "")
	if status != http.StatusConflict || e.Code != "conflict" || !strings.Contains(e.Message, "thinraft lvchange -ay vg0/skip") {
		t.Fatalf("export of an inactive volume: %d %+v", status, e)
	}
	var vr api.VolumeResponse
	json.Unmarshal(cl.ok("PATCH", "/v1/vgs/vg0/volumes/skip", `{"active":true}`, http.StatusOK), &vr)
	if vr.Volume == nil || !vr.Volume.Active {
		t.Fatalf("PATCH active: %+v", vr.Volume)
	}
	cl.ok("GET", "/v1/vgs/vg0/volumes/skip/export", "", http.StatusOK)
	if status, e, _ := cl.do("GET", "/v1/vgs/vg0/volumes/nope/export", ""); status != http.StatusNotFound {
		t.Fatalf("export of a missing volume: %d %+v", status, e)
	}
}
