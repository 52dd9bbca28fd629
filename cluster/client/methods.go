package client

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/metadata"
)

// One method per API route (docs/api.md). Path segments are escaped: names
// are validated by the server, not trusted by the client.

func p(segs ...string) string {
	out := "/v1"
	for _, s := range segs {
		out += "/" + url.PathEscape(s)
	}
	return out
}

// Cluster reports the answering node's view of the cluster (no forwarding).
func (c *Client) Cluster(ctx context.Context) (*api.ClusterInfo, error) {
	var out api.ClusterInfo
	_, err := c.do(ctx, http.MethodGet, p("cluster"), nil, nil, &out)
	return &out, err
}

// Nodes lists the cluster's nodes.
func (c *Client) Nodes(ctx context.Context, opts ...Option) ([]metadata.Node, error) {
	var out api.NodeList
	_, err := c.do(ctx, http.MethodGet, p("nodes"), query(opts), nil, &out)
	return out.Nodes, err
}

// Node returns one node.
func (c *Client) Node(ctx context.Context, id string, opts ...Option) (*metadata.Node, error) {
	var out struct {
		Node metadata.Node `json:"node"`
	}
	_, err := c.do(ctx, http.MethodGet, p("nodes", id), query(opts), nil, &out)
	return &out.Node, err
}

// VGs lists the volume groups.
func (c *Client) VGs(ctx context.Context, opts ...Option) ([]metadata.VG, error) {
	var out api.VGList
	_, err := c.do(ctx, http.MethodGet, p("vgs"), query(opts), nil, &out)
	return out.VGs, err
}

// VG returns one volume group.
func (c *Client) VG(ctx context.Context, name string, opts ...Option) (*metadata.VG, error) {
	var out api.VGResponse
	_, err := c.do(ctx, http.MethodGet, p("vgs", name), query(opts), nil, &out)
	return &out.VG, err
}

// CreateVG creates a volume group.
func (c *Client) CreateVG(ctx context.Context, req api.VGCreateRequest) (*metadata.VG, error) {
	var out api.VGResponse
	if err := withUUID(&req.UUID); err != nil {
		return nil, err
	}
	_, err := c.do(ctx, http.MethodPost, p("vgs"), nil, req, &out)
	return &out.VG, err
}

// DeleteVG removes an empty volume group.
func (c *Client) DeleteVG(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, p("vgs", name), nil, nil, nil)
	return err
}

// Pools lists a VG's pools.
func (c *Client) Pools(ctx context.Context, vg string, opts ...Option) ([]metadata.Pool, error) {
	var out api.PoolList
	_, err := c.do(ctx, http.MethodGet, p("vgs", vg, "pools"), query(opts), nil, &out)
	return out.Pools, err
}

// Pool returns one pool by VG and name.
func (c *Client) Pool(ctx context.Context, vg, name string, opts ...Option) (*metadata.Pool, error) {
	var out api.PoolResponse
	_, err := c.do(ctx, http.MethodGet, p("vgs", vg, "pools", name), query(opts), nil, &out)
	return &out.Pool, err
}

// CreatePool records a pool on a node.
func (c *Client) CreatePool(ctx context.Context, vg string, req api.PoolCreateRequest) (*metadata.Pool, error) {
	var out api.PoolResponse
	if err := withUUID(&req.UUID); err != nil {
		return nil, err
	}
	_, err := c.do(ctx, http.MethodPost, p("vgs", vg, "pools"), nil, req, &out)
	return &out.Pool, err
}

// ListOptions page through volumes.
type ListOptions struct {
	// After is the cursor: the Next of the previous page ("" for the first).
	After string
	// Limit is the page size (0: the server's default).
	Limit int
	Stale bool
}

// Volumes returns one page of a VG's volumes, by name.
func (c *Client) Volumes(ctx context.Context, vg string, lo ListOptions) (*api.VolumeList, error) {
	q := url.Values{}
	if lo.After != "" {
		q.Set("after", lo.After)
	}
	if lo.Limit > 0 {
		q.Set("limit", strconv.Itoa(lo.Limit))
	}
	if lo.Stale {
		q.Set("stale", "true")
	}
	var out api.VolumeList
	_, err := c.do(ctx, http.MethodGet, p("vgs", vg, "volumes"), q, nil, &out)
	return &out, err
}

// Volume returns one volume by VG and name.
func (c *Client) Volume(ctx context.Context, vg, name string, opts ...Option) (*metadata.Volume, error) {
	var out api.VolumeResponse
	if _, err := c.do(ctx, http.MethodGet, p("vgs", vg, "volumes", name), query(opts), nil, &out); err != nil {
		return nil, err
	}
	if out.Volume == nil {
		return nil, &Error{Code: api.CodeInternal, Message: "answer carries no volume"}
	}
	return out.Volume, nil
}

// CreateVolume creates a thin volume. The answer's Operation tracks the
// kernel work (pending unless Wait let it finish).
func (c *Client) CreateVolume(ctx context.Context, vg string, req api.VolumeCreateRequest, opts ...Option) (*api.VolumeResponse, error) {
	var out api.VolumeResponse
	if err := withUUID(&req.UUID); err != nil {
		return nil, err
	}
	_, err := c.do(ctx, http.MethodPost, p("vgs", vg, "volumes"), query(opts), req, &out)
	return &out, err
}

// PatchVolume extends, retags, sets read-only and/or renames a volume.
func (c *Client) PatchVolume(ctx context.Context, vg, name string, req api.VolumePatchRequest) (*metadata.Volume, error) {
	var out api.VolumeResponse
	_, err := c.do(ctx, http.MethodPatch, p("vgs", vg, "volumes", name), nil, req, &out)
	return out.Volume, err
}

// DeleteVolume deletes a volume or snapshot.
func (c *Client) DeleteVolume(ctx context.Context, vg, name string, opts ...Option) (*api.VolumeResponse, error) {
	var out api.VolumeResponse
	_, err := c.do(ctx, http.MethodDelete, p("vgs", vg, "volumes", name), query(opts), nil, &out)
	return &out, err
}

// CreateSnapshot snapshots volume vg/name.
func (c *Client) CreateSnapshot(ctx context.Context, vg, name string, req api.SnapshotCreateRequest, opts ...Option) (*api.VolumeResponse, error) {
	var out api.VolumeResponse
	if err := withUUID(&req.UUID); err != nil {
		return nil, err
	}
	_, err := c.do(ctx, http.MethodPost, p("vgs", vg, "volumes", name, "snapshots"), query(opts), req, &out)
	return &out, err
}

// Revert returns volume vg/name to the content of one of its snapshots.
func (c *Client) Revert(ctx context.Context, vg, name, snapshot string, opts ...Option) (*api.VolumeResponse, error) {
	var out api.VolumeResponse
	_, err := c.do(ctx, http.MethodPost, p("vgs", vg, "volumes", name, "revert"), query(opts), api.RevertRequest{Snapshot: snapshot}, &out)
	return &out, err
}

// Operation returns an operation's current state.
func (c *Client) Operation(ctx context.Context, id string, opts ...Option) (*api.Operation, error) {
	var out api.Operation
	_, err := c.do(ctx, http.MethodGet, p("operations", id), query(opts), nil, &out)
	return &out, err
}

// waitSlice is how long each poll asks the server to hold the request.
const waitSlice = 10 * time.Second

// WaitOperation returns when operation id has finished: the operation and
// nil when done, and the operation and an ErrAbandoned error (with the
// agent's reason) when abandoned. It long-polls with ?wait, so it costs
// one request per waitSlice, not a busy loop; the context bounds it.
func (c *Client) WaitOperation(ctx context.Context, id string) (*api.Operation, error) {
	for {
		wait := waitSlice
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, max(time.Until(d)-100*time.Millisecond, 0))
		}
		op, err := c.Operation(ctx, id, Wait(wait))
		if err != nil {
			return nil, err
		}
		switch op.State {
		case api.OpDone:
			return op, nil
		case api.OpAbandoned:
			return op, &Error{Code: ErrAbandoned.Code, Message: fmt.Sprintf("operation %s abandoned: %s", id, op.Reason)}
		}
		if wait <= 0 {
			select {
			case <-ctx.Done():
				return op, fmt.Errorf("client: wait for operation %s: %w", id, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
		if err := ctx.Err(); err != nil {
			return op, fmt.Errorf("client: wait for operation %s: %w", id, err)
		}
	}
}

// withUUID gives a create request a uuid chosen here, so the create can be
// retried after a lost answer: the server recognises the repeat.
func withUUID(u *string) error {
	if *u != "" {
		return nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("client: uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	*u = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	return nil
}
