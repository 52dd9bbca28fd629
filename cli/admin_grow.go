package cli

import (
	"context"
)

// growPool records a pool's new sizes (0 = unchanged).
func (a *app) growPool(ctx context.Context, cl API, r lvRef, data, meta uint64) error {
	_, _, _, _ = ctx, cl, data, meta
	return failf("growing thin pool %s needs the pool_grow API route, not in this build yet", r)
}
