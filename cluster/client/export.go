package client

import (
	"context"
	"net/http"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/metadata"
)

// Export returns where volume vg/name is served over NBD. A volume that is
// not active is refused with a conflict error naming lvchange -ay.
func (c *Client) Export(ctx context.Context, vg, name string, opts ...Option) (*api.ExportInfo, error) {
	var out api.ExportInfo
	if _, err := c.do(ctx, http.MethodGet, p("vgs", vg, "volumes", name, "export"), query(opts), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetActive activates (lvchange -ay) or deactivates (-an) volume vg/name.
// Setting the value it already has is not an error, so a retry after a
// lost answer is safe. Deactivating a volume a client has open is refused
// with a conflict error.
func (c *Client) SetActive(ctx context.Context, vg, name string, active bool) (*metadata.Volume, error) {
	var out api.VolumeResponse
	if _, err := c.do(ctx, http.MethodPatch, p("vgs", vg, "volumes", name), nil, api.VolumePatchRequest{Active: &active}, &out); err != nil {
		return nil, err
	}
	if out.Volume == nil {
		return nil, &Error{Code: api.CodeInternal, Message: "answer carries no volume"}
	}
	return out.Volume, nil
}
