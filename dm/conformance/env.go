package conformance

import (
	"context"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/dmtest"
)

// Env is what the runner needs from one dm.Control implementation beyond
// the interface itself: backing devices for pool metadata and data, the
// pool module's no-space timeout, and an independent check of a pool's
// metadata. One Env serves one case; the runner calls Close at the end.
type Env interface {
	// Control is the implementation under test.
	Control() dm.Control

	// CreateBacking makes a zero-filled backing device of size bytes
	// (sparse where possible) and returns it. name is unique per case.
	CreateBacking(name string, size int64) (Backing, error)
	// GrowBacking enlarges a backing device to size bytes and makes the
	// new size visible to the implementation (a loop device is refreshed).
	GrowBacking(b Backing, size int64) error
	// WriteBacking writes p at off straight to the backing store, below
	// device-mapper (used to plant stale data a pool must not show).
	WriteBacking(b Backing, off int64, p []byte) error

	// DevRef is how a table line names another device-mapper device
	// (a thin target's pool device).
	DevRef(ctx context.Context, name string) (string, error)

	// SetNoSpaceTimeout sets the thin-pool no_space_timeout (queue mode
	// IO errors after it). Close restores the default.
	SetNoSpaceTimeout(d time.Duration) error

	// CheckMetadata checks, with the thin-provisioning-tools, the metadata
	// on b after every pool using it was removed; a non-nil error fails
	// the case. Missing tools are an error that names the install command.
	CheckMetadata(ctx context.Context, b Backing) error

	// Close releases backing devices (detach loops, delete files) and
	// restores module parameters. It is called once, after teardown.
	Close() error
}

// Backing is a backing device: Ref is what a table line uses for it
// (a loop device node on the kernel, a file path on the userspace
// engine), Path the file behind it. *dmtest.Env implements Env.
type Backing = dmtest.Backing

var _ Env = (*dmtest.Env)(nil)
