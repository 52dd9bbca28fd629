package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/thinraft/thinraft/metadata"
)

// Names and places lvcreate picks when the command line leaves them out,
// as LVM does (lvol#), plus where a new pool goes (thinraft's own rule),
// and LVM's overcommit warning.

// freeName is LVM's default LV name: the lowest lvol# unused in the VG.
func freeName(ctx context.Context, cl API, vg string) (string, error) {
	taken := map[string]bool{}
	vols, err := allVolumes(ctx, cl, vg)
	if err != nil {
		return "", err
	}
	for _, v := range vols {
		taken[v.Name] = true
	}
	pools, err := cl.Pools(ctx, vg)
	if err != nil {
		return "", apiErr("list pools of "+vg, err)
	}
	for _, pl := range pools {
		taken[pl.Name] = true
	}
	for i := 0; ; i++ {
		if n := "lvol" + strconv.Itoa(i); !taken[n] {
			return n, nil
		}
	}
}

// pickNode is where a pool goes when --node is not given: the up node
// with the fewest pools, ties broken by id.
func pickNode(ctx context.Context, cl API) (string, error) {
	nodes, err := cl.Nodes(ctx)
	if err != nil {
		return "", apiErr("list nodes", err)
	}
	count := map[string]int{}
	vgs, err := cl.VGs(ctx)
	if err != nil {
		return "", apiErr("list VGs", err)
	}
	for _, vg := range vgs {
		pools, err := cl.Pools(ctx, vg.Name)
		if err != nil {
			return "", apiErr("list pools of "+vg.Name, err)
		}
		for _, p := range pools {
			count[p.Node]++
		}
	}
	var up []metadata.Node
	for _, n := range nodes {
		if n.State == metadata.NodeUp {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return "", failf("no node is up to hold the pool; start an agent or name one with --node")
	}
	slices.SortFunc(up, func(x, y metadata.Node) int {
		if c := count[x.ID] - count[y.ID]; c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return up[0].ID, nil
}

// warnOvercommit prints LVM's warning when the pool's thin volumes add up
// to more than its data size (thin provisioning at work, not an error).
func (a *app) warnOvercommit(ctx context.Context, cl API, vg, pool string) error {
	pl, err := cl.Pool(ctx, vg, pool)
	if err != nil {
		return apiErr(fmt.Sprintf("thin pool %s/%s", vg, pool), err)
	}
	vols, err := allVolumes(ctx, cl, vg)
	if err != nil {
		return err
	}
	var sum uint64
	for _, v := range vols {
		if v.Pool == pl.UUID {
			sum += v.SizeBytes
		}
	}
	if sum > pl.DataBytes {
		a.note("WARNING: Sum of all thin volume sizes (%s) exceeds the size of thin pool %s/%s (%s).", human(sum), vg, pool, human(pl.DataBytes))
	}
	return nil
}
