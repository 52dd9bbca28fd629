package api_test

import (
	"net/http"
	"testing"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/api/apitest"
)

// TestLeaderHeader: every answer names the leader's API address, from the
// leader and from a follower, for served, forwarded and refused requests.
func TestLeaderHeader(t *testing.T) {
	c := apitest.Start(t, 3)
	hc := rawClient(c, nil)
	want := c.Leader().APIAddr
	cases := []struct {
		name, node, path, token string
		status                  int
	}{
		{"leader serves", c.Leader().APIAddr, "/v1/vgs", c.Token, http.StatusOK},
		{"follower forwards", c.Follower().APIAddr, "/v1/vgs", c.Token, http.StatusOK},
		{"follower serves locally", c.Follower().APIAddr, "/v1/cluster", c.Token, http.StatusOK},
		{"refused", c.Follower().APIAddr, "/v1/vgs", "wrong", http.StatusUnauthorized},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(http.MethodGet, "https://"+tc.node+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get(api.HeaderLeader) != want {
			t.Errorf("%s: status %d, %s %q; want %d, %q", tc.name, resp.StatusCode, api.HeaderLeader,
				resp.Header.Get(api.HeaderLeader), tc.status, want)
		}
	}
}
