package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/api/apitest"
	"github.com/thinraft/thinraft/cluster/raftnode"
	"github.com/thinraft/thinraft/metadata"
)

// TestAdminRoutes: pool grow, quarantine lift and removal, and a node's
// leave, through a follower so forwarding is exercised too.
func TestAdminRoutes(t *testing.T) {
	c := apitest.Start(t, 3)
	cl := caller{t: t, hc: rawClient(c, nil), base: "https://" + c.Follower().APIAddr, token: c.Token}
	cl.ok("POST", "/v1/vgs", `{"name":"vg0"}`, http.StatusCreated)
	var pr api.PoolResponse
	json.Unmarshal(cl.ok("POST", "/v1/vgs/vg0/pools", `{"name":"pool0","node":"n1","chunk_sectors":128,"data_bytes":1073741824,"meta_bytes":67108864}`, http.StatusCreated), &pr)

	var grown api.PoolResponse
	json.Unmarshal(cl.ok("PATCH", "/v1/vgs/vg0/pools/pool0", `{"data_bytes":2147483648}`, http.StatusOK), &grown)
	if grown.Pool.DataBytes != 2<<30 || grown.Pool.MetaBytes != 64<<20 {
		t.Fatalf("grown pool: %+v", grown.Pool)
	}
	for body, code := range map[string]string{`{"data_bytes":1073741824}`: "invalid", `{}`: "invalid"} {
		if status, e, _ := cl.do("PATCH", "/v1/vgs/vg0/pools/pool0", body); status != 400 || e.Code != code {
			t.Errorf("grow %s: %d %+v", body, status, e)
		}
	}
	if status, e, _ := cl.do("PATCH", "/v1/vgs/vg0/pools/nope", `{"data_bytes":1}`); status != 404 || e.Code != "not_found" {
		t.Errorf("grow of a missing pool: %d %+v", status, e)
	}

	c.Apply(metadata.CmdPoolQuarantine, metadata.PoolQuarantine{Pool: pr.Pool.UUID, Findings: []metadata.Finding{{Kind: "unknown_thin_id", ThinID: 9}}})
	if status, e, _ := cl.do("POST", "/v1/vgs/vg0/volumes", `{"name":"v","pool":"pool0","size_bytes":1048576}`); status != 409 || e.Code != "conflict" {
		t.Fatalf("create in a quarantined pool: %d %+v", status, e)
	}
	var lifted api.PoolResponse
	json.Unmarshal(cl.ok("POST", "/v1/vgs/vg0/pools/pool0/unquarantine", "", http.StatusOK), &lifted)
	if lifted.Pool.State != metadata.PoolActive {
		t.Fatalf("after unquarantine: %+v", lifted.Pool)
	}

	cl.ok("POST", "/v1/vgs/vg0/volumes", `{"name":"v","pool":"pool0","size_bytes":1048576}`, http.StatusAccepted)
	c.CompleteIntents(pr.Pool.UUID)
	if status, e, _ := cl.do("DELETE", "/v1/vgs/vg0/pools/pool0", ""); status != 409 || e.Code != "conflict" {
		t.Fatalf("remove a pool with a volume: %d %+v", status, e)
	}
	cl.ok("DELETE", "/v1/vgs/vg0/volumes/v", "", http.StatusAccepted)
	c.CompleteIntents(pr.Pool.UUID)
	cl.ok("DELETE", "/v1/vgs/vg0/pools/pool0", "", http.StatusNoContent)
	if status, _, _ := cl.do("GET", "/v1/vgs/vg0/pools/pool0", ""); status != 404 {
		t.Fatalf("removed pool still there: %d", status)
	}

	// Nodes: an up node is not removed as dead without force; a leave
	// takes it out of the model and of Raft.
	leader := c.Leader()
	var victim string
	for _, id := range c.IDs() {
		if id != leader.ID && "https://"+c.Node(id).APIAddr != cl.base {
			victim = id
		}
	}
	lc := caller{t: t, hc: cl.hc, base: "https://" + leader.APIAddr, token: c.Token}
	if status, e, _ := lc.do("DELETE", "/v1/nodes/"+victim, ""); status != 409 || e.Code != "conflict" {
		t.Fatalf("remove an up node as dead: %d %+v", status, e)
	}
	var nr api.NodeResponse
	json.Unmarshal(lc.ok("POST", "/v1/nodes/"+victim+"/leave", "", http.StatusOK), &nr)
	if nr.Node.State != metadata.NodeLeft {
		t.Fatalf("after leave: %+v", nr.Node)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		peers, _, err := leader.Raft.Servers()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(peers, func(p raftnode.Peer) bool { return p.ID == victim }) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s still in the Raft configuration: %+v", victim, peers)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if status, e, _ := lc.do("POST", "/v1/nodes/nobody/leave", ""); status != 404 || e.Code != "not_found" {
		t.Fatalf("leave of an unknown node: %d %+v", status, e)
	}
}
