package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// TestNodeLiveness: a node killed with SIGKILL, and a node cut off by a
// partition, are marked down by the leader, so creates in their pools are
// refused `unavailable` at once rather than queued for ever; a restarted
// node, and a partitioned one after the heal, are up again and their pools
// take creates.
func TestNodeLiveness(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newProcCluster(t, 3)
	cl := c.client("n1", "n2", "n3")
	lead := c.leader(ctx, cl, 3)
	victim := "n3"
	if lead == victim {
		victim = "n2"
	}
	if _, err := cl.CreateVG(ctx, api.VGCreateRequest{Name: "vg0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreatePool(ctx, "vg0", api.PoolCreateRequest{Name: "p", Node: victim, ChunkSectors: 128, DataBytes: 64 << 20, MetaBytes: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	create := func(name string) error {
		_, err := cl.CreateVolume(ctx, "vg0", api.VolumeCreateRequest{Name: name, Pool: "p", SizeBytes: 1 << 20}, client.Wait(20*time.Second))
		return err
	}
	if err := create("before"); err != nil {
		t.Fatal(err)
	}
	waitState := func(want metadata.NodeState) {
		t.Helper()
		for {
			n, err := cl.Node(ctx, victim)
			if err == nil && n.State == want {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s never became %s (last: %+v, %v)", victim, want, n, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	c.kill(victim)
	waitState(metadata.NodeDown)
	if err := create("while-dead"); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("create in a dead node's pool: %v, want unavailable", err)
	}
	c.start(victim)
	waitState(metadata.NodeUp)
	if err := create("after-restart"); err != nil {
		t.Fatalf("create after the restart: %v", err)
	}

	c.isolate(victim)
	waitState(metadata.NodeDown)
	if err := create("while-cut"); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("create in a partitioned node's pool: %v, want unavailable", err)
	}
	c.heal()
	waitState(metadata.NodeUp)
	if err := create("after-heal"); err != nil {
		t.Fatalf("create after the heal: %v", err)
	}
}
