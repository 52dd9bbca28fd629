package nodetest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// pollEvery is how often the waits ask the cluster again.
const pollEvery = 50 * time.Millisecond

// Client returns a client of the cluster's token and CA for the given API
// addresses (none: every added node's), closed at the test's end.
func (c *Cluster) Client(endpoints ...string) *client.Client {
	c.t.Helper()
	if len(endpoints) == 0 {
		for _, id := range c.IDs() {
			endpoints = append(endpoints, c.Config(id).APIBind)
		}
	}
	cl, err := client.New(client.Config{Endpoints: endpoints, Token: c.Token, CA: c.CA.Pool(), RetryTimeout: 20 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// WaitMembers waits until cl lists exactly want registered nodes and
// returns them; it fails the test when ctx ends first.
func (c *Cluster) WaitMembers(ctx context.Context, cl *client.Client, want int) []metadata.Node {
	c.t.Helper()
	var ns []metadata.Node
	c.poll(ctx, fmt.Sprintf("waiting for %d members", want), func() (bool, string) {
		var err error
		ns, err = cl.Nodes(ctx)
		return err == nil && len(ns) == want, fmt.Sprintf("%d listed, error %v", len(ns), err)
	})
	return ns
}

// WaitLeader waits until the node cl reaches names a leader that is
// running (a node just stopped is still named until the others notice)
// and returns its id; it fails the test when ctx ends first.
func (c *Cluster) WaitLeader(ctx context.Context, cl *client.Client) string {
	c.t.Helper()
	var lead string
	c.poll(ctx, "waiting for a leader", func() (bool, string) {
		info, err := cl.Cluster(ctx)
		if err != nil {
			return false, err.Error()
		}
		lead = info.LeaderID
		return lead != "" && slices.Contains(c.Running(), lead), fmt.Sprintf("node %s names leader %q", info.Node, lead)
	})
	return lead
}

// WaitReady waits for a leader and for every added node's registration.
func (c *Cluster) WaitReady(ctx context.Context, cl *client.Client) {
	c.t.Helper()
	c.WaitLeader(ctx, cl)
	c.WaitMembers(ctx, cl, len(c.IDs()))
}

// poll calls check until it reports done, failing the test with what and
// check's last word on the state when ctx ends first.
func (c *Cluster) poll(ctx context.Context, what string, check func() (done bool, state string)) {
	c.t.Helper()
	for {
		done, state := check()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("%s: %v (last: %s)", what, ctx.Err(), state)
		case <-time.After(pollEvery):
		}
	}
}
