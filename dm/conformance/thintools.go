package conformance

import (
	"context"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/dmtest"
)

// InstallThinTools is the one command that provides the tools the metadata
// check needs; a missing tool fails the case with it (never a skip).
const InstallThinTools = dmtest.InstallThinTools

// ThinCheck runs thin_check on a metadata device or file and returns an
// error with its output unless the metadata is clean (dmtest.ThinCheck).
func ThinCheck(ctx context.Context, path string) error { return dmtest.ThinCheck(ctx, path) }

// RestoreAndCheck is the userspace engine's second oracle
// (dmtest.RestoreAndCheck).
func RestoreAndCheck(ctx context.Context, d *dm.MetadataDump, dir string, metaSize int64) error {
	return dmtest.RestoreAndCheck(ctx, d, dir, metaSize)
}
