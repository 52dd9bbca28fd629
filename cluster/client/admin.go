package client

import (
	"context"
	"net/http"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/metadata"
)

// GrowPool grows a pool's data and/or metadata devices to the new total
// sizes in req (lvextend of a thin pool). The pool's agent grows the
// backing devices and the kernel pool after the record changes.
func (c *Client) GrowPool(ctx context.Context, vg, pool string, req api.PoolGrowRequest) (*metadata.Pool, error) {
	var out api.PoolResponse
	if _, err := c.do(ctx, http.MethodPatch, p("vgs", vg, "pools", pool), nil, req, &out); err != nil {
		return nil, err
	}
	return &out.Pool, nil
}

// DeletePool removes a pool that has no volumes (lvremove of a thin pool).
func (c *Client) DeletePool(ctx context.Context, vg, pool string) error {
	_, err := c.do(ctx, http.MethodDelete, p("vgs", vg, "pools", pool), nil, nil, nil)
	return err
}

// Unquarantine lifts a pool's quarantine, the last step of the repair
// runbook (docs/repair.md).
func (c *Client) Unquarantine(ctx context.Context, vg, pool string) (*metadata.Pool, error) {
	var out api.PoolResponse
	if _, err := c.do(ctx, http.MethodPost, p("vgs", vg, "pools", pool, "unquarantine"), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out.Pool, nil
}

// LeaveNode records that a live node leaves the cluster (it must own no
// pools) and removes it from the Raft configuration; stop its process
// afterwards.
func (c *Client) LeaveNode(ctx context.Context, id string) (*metadata.Node, error) {
	var out api.NodeResponse
	if _, err := c.do(ctx, http.MethodPost, p("nodes", id, "leave"), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out.Node, nil
}

// RemoveNode removes a dead node. It is refused while the node is up
// unless force is set.
func (c *Client) RemoveNode(ctx context.Context, id string, force bool) (*metadata.Node, error) {
	var out api.NodeResponse
	q := query(nil)
	if force {
		q.Set("force", "true")
	}
	if _, err := c.do(ctx, http.MethodDelete, p("nodes", id), q, nil, &out); err != nil {
		return nil, err
	}
	return &out.Node, nil
}
