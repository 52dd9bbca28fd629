package cli

import (
	"context"

	"github.com/thinraft/thinraft/metadata"
)

// adminAPI is the cluster client's administrative calls (pool growth and
// removal, repair, node membership).
type adminAPI interface {
	DeletePool(ctx context.Context, vg, pool string) error
	Unquarantine(ctx context.Context, vg, pool string) (*metadata.Pool, error)
	LeaveNode(ctx context.Context, id string) error
	RemoveNode(ctx context.Context, id string) error
}

// admin returns the administrative calls of cl.
func admin(cl API) (adminAPI, error) {
	ad, ok := cl.(adminAPI)
	if !ok {
		return nil, failf("this client build lacks the administrative API calls; rebuild thinraft")
	}
	return ad, nil
}
