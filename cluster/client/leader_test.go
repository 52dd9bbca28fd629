package client

import (
	"context"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api/apitest"
)

// TestFollowLeader: after an answer through a follower, the client's next
// call goes to the leader the answer named, if it is a configured endpoint
// that has not just failed.
func TestFollowLeader(t *testing.T) {
	c := apitest.Start(t, 3)
	leader, follower := c.Leader().APIAddr, c.Follower().APIAddr
	cases := []struct {
		name      string
		endpoints []string
		failed    string // an endpoint marked as just failed
		want      string // the endpoint tried next
	}{
		{"leader configured", []string{follower, leader}, "", leader},
		{"leader not configured", []string{follower}, "", follower},
		{"leader just failed", []string{follower, leader}, leader, follower},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := New(Config{Endpoints: tc.endpoints, Token: c.Token, CA: c.CA.Pool(), RetryTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if tc.failed != "" {
				cl.fail(tc.failed)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := cl.VGs(ctx); err != nil {
				t.Fatal(err)
			}
			if got := cl.endpoint(0); got != tc.want {
				t.Fatalf("next endpoint %s, want %s (leader %s, follower %s)", got, tc.want, leader, follower)
			}
		})
	}
}
