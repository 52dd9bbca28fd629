package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/api/apitest"
)

// TestCreateReplay: a create repeated with the same client-chosen uuid (a
// client retrying after a lost answer) is answered like the first, while
// the same name under another uuid is still refused.
func TestCreateReplay(t *testing.T) {
	c := apitest.Start(t, 1)
	cl := caller{t: t, hc: rawClient(c, nil), base: "https://" + c.Node("n1").APIAddr, token: c.Token}
	const vgUUID = "6f1c1c2e-0000-4000-8000-000000000001"
	const volUUID = "6f1c1c2e-0000-4000-8000-000000000002"
	body := `{"name":"vg0","uuid":"` + vgUUID + `"}`
	cl.ok("POST", "/v1/vgs", body, http.StatusCreated)
	var vr api.VGResponse
	if err := json.Unmarshal(cl.ok("POST", "/v1/vgs", body, http.StatusCreated), &vr); err != nil || vr.VG.UUID != vgUUID {
		t.Fatalf("replayed VG create: %+v %v", vr, err)
	}
	if status, e, _ := cl.do("POST", "/v1/vgs", `{"name":"vg0"}`); status != 409 || e.Code != "exists" {
		t.Fatalf("same name, new uuid: %d %+v", status, e)
	}
	var pr api.PoolResponse
	json.Unmarshal(cl.ok("POST", "/v1/vgs/vg0/pools", `{"name":"pool0","node":"n1","chunk_sectors":128,"data_bytes":1073741824,"meta_bytes":67108864}`, http.StatusCreated), &pr)

	vol := `{"name":"vol1","pool":"pool0","size_bytes":1048576,"uuid":"` + volUUID + `"}`
	var first, second api.VolumeResponse
	json.Unmarshal(cl.ok("POST", "/v1/vgs/vg0/volumes", vol, http.StatusAccepted), &first)
	json.Unmarshal(cl.ok("POST", "/v1/vgs/vg0/volumes", vol, http.StatusAccepted), &second)
	if first.Operation == nil || second.Operation == nil || first.Operation.ID != second.Operation.ID || second.Volume.UUID != volUUID {
		t.Fatalf("replayed volume create: first %+v second %+v", first, second)
	}
	c.CompleteIntents(pr.Pool.UUID)
	var third api.VolumeResponse
	json.Unmarshal(cl.ok("POST", "/v1/vgs/vg0/volumes", vol, http.StatusCreated), &third)
	if third.Volume == nil || third.Volume.State != "active" {
		t.Fatalf("replay after completion: %+v", third)
	}
	if status, e, _ := cl.do("POST", "/v1/vgs/vg0/volumes", `{"name":"vol1","pool":"pool0","size_bytes":1048576}`); status != 409 || e.Code != "exists" {
		t.Fatalf("same volume name, new uuid: %d %+v", status, e)
	}
}

// TestIdempotencyKey: a write repeated with its Idempotency-Key gets the
// first answer and is not applied again — even a create repeated after the
// volume it made was deleted (no uuid from the client: the leader picked
// it), through a follower as well as the leader.
func TestIdempotencyKey(t *testing.T) {
	c := apitest.Start(t, 3)
	leader := c.Leader()
	cl := caller{t: t, hc: rawClient(c, nil), base: "https://" + leader.APIAddr, token: c.Token}
	fol := caller{t: t, hc: rawClient(c, nil), base: "https://" + c.Follower().APIAddr, token: c.Token}
	cl.ok("POST", "/v1/vgs", `{"name":"vg0"}`, http.StatusCreated)
	var pr api.PoolResponse
	json.Unmarshal(cl.ok("POST", "/v1/vgs/vg0/pools", `{"name":"pool0","node":"n1","chunk_sectors":128,"data_bytes":1073741824,"meta_bytes":67108864}`, http.StatusCreated), &pr)

	create := `{"name":"vol1","pool":"pool0","size_bytes":1048576}`
	status, _, data := cl.do("POST", "/v1/vgs/vg0/volumes", create, api.HeaderIdempotencyKey, "create-1")
	var first api.VolumeResponse
	if json.Unmarshal(data, &first); status != http.StatusAccepted || first.Volume == nil {
		t.Fatalf("create: %d %s", status, data)
	}
	c.CompleteIntents(pr.Pool.UUID)
	cl.ok("DELETE", "/v1/vgs/vg0/volumes/vol1", "", http.StatusAccepted)
	c.CompleteIntents(pr.Pool.UUID)

	for _, via := range []caller{cl, fol} {
		status, e, data := via.do("POST", "/v1/vgs/vg0/volumes", create, api.HeaderIdempotencyKey, "create-1")
		var again api.VolumeResponse
		json.Unmarshal(data, &again)
		if status >= 300 || again.Operation == nil || again.Operation.ID != first.Operation.ID {
			t.Fatalf("repeat via %s: %d %+v %s", via.base, status, e, data)
		}
		c.Converge()
		if status, _, _ := via.do("GET", "/v1/vgs/vg0/volumes/vol1", ""); status != http.StatusNotFound {
			t.Fatalf("the repeat brought back the deleted volume (GET: %d)", status)
		}
	}
	// The same key on another kind of write is refused, and so is a
	// malformed key; a new key creates the name afresh.
	if status, e, _ := cl.do("DELETE", "/v1/vgs/vg0/volumes/vol1", "", api.HeaderIdempotencyKey, "create-1"); status != 400 || e.Code != "invalid" {
		t.Fatalf("key reused for a delete: %d %+v", status, e)
	}
	if status, e, _ := cl.do("POST", "/v1/vgs/vg0/volumes", create, api.HeaderIdempotencyKey, "two words"); status != 400 || e.Code != "invalid" {
		t.Fatalf("bad key: %d %+v", status, e)
	}
	cl.ok("POST", "/v1/vgs/vg0/volumes", create, http.StatusAccepted)
	c.CompleteIntents(pr.Pool.UUID)

	// A PATCH proposes one command per attribute; its repeat replays each.
	patch := `{"size_bytes":2097152,"tags":["a"],"read_only":true}`
	for i := 0; i < 2; i++ {
		if status, e, data := cl.do("PATCH", "/v1/vgs/vg0/volumes/vol1", patch, api.HeaderIdempotencyKey, "patch-1"); status != http.StatusOK {
			t.Fatalf("patch attempt %d: %d %+v %s", i, status, e, data)
		}
	}
	// Without the key the same extend is refused: the size is not larger.
	if status, e, _ := cl.do("PATCH", "/v1/vgs/vg0/volumes/vol1", patch); status != 400 || e.Code != "invalid" {
		t.Fatalf("unkeyed repeat: %d %+v", status, e)
	}
}
