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
