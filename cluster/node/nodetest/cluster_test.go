package nodetest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/node"
	"github.com/thinraft/thinraft/cluster/node/nodetest"
)

// TestHarness: the options reach every node (NBD listener registered,
// report interval, Configure), and after the leader is stopped WaitLeader
// names another running node, not the stale one; the stopped node comes
// back on its data with Start.
func TestHarness(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := nodetest.Start(t, 3, nodetest.Options{NBD: true, ReportInterval: 2 * time.Second,
		Configure: func(cfg *node.Config) { cfg.MonitorInterval = node.Duration(3 * time.Second) }})
	cl := c.Client()
	c.WaitReady(ctx, cl)
	ns, err := cl.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		cfg := c.Config(n.ID)
		if cfg.NBDBind == "" || n.NBDAddr != cfg.NBDBind {
			t.Errorf("node %s: nbd_addr %q, configured %q", n.ID, n.NBDAddr, cfg.NBDBind)
		}
		if time.Duration(cfg.ReportInterval) != 2*time.Second || time.Duration(cfg.MonitorInterval) != 3*time.Second {
			t.Errorf("node %s: report %v monitor %v", n.ID, time.Duration(cfg.ReportInterval), time.Duration(cfg.MonitorInterval))
		}
	}

	old := c.WaitLeader(ctx, cl)
	c.Stop(old)
	if got := strings.Join(c.Running(), ","); strings.Contains(got, old) {
		t.Fatalf("running %s after stopping %s", got, old)
	}
	if lead := c.WaitLeader(ctx, cl); lead == old {
		t.Fatalf("leader %s is the stopped node", lead)
	}
	c.Start(old)
	if got := len(c.Running()); got != 3 {
		t.Fatalf("%d running after the restart", got)
	}
	c.WaitReady(ctx, c.Client(c.Config(old).APIBind))
}
