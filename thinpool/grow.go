package thinpool

import (
	"context"
	"fmt"
	"os"
)

// FileGrower grows file-backed devices (the userspace engine's backing
// files, or the files under loop devices on the kernel) with ftruncate, up
// to MaxSize bytes per file (0 = no limit). Refresh, if set, runs after a
// file grew (dm/kernel's loop devices need LOOP_SET_CAPACITY before the pool
// can see the new size).
type FileGrower struct {
	MaxSize int64
	// Files maps a device name to its backing file when they differ (loop
	// devices); a device not listed is its own file.
	Files   map[string]string
	Refresh func(dev string) error
}

func (g FileGrower) file(dev string) string {
	if f, ok := g.Files[dev]; ok {
		return f
	}
	return dev
}

// Size returns the backing file's size.
func (g FileGrower) Size(_ context.Context, dev string) (int64, error) {
	fi, err := os.Stat(g.file(dev))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Grow extends the backing file (sparse) to minSize or, when MaxSize is
// lower, to MaxSize: a partial growth still buys the pool time, which is
// what LVM does when the VG has less free space than the policy asks for.
// It fails only when the file cannot grow at all.
func (g FileGrower) Grow(ctx context.Context, dev string, minSize int64) (int64, error) {
	cur, err := g.Size(ctx, dev)
	if err != nil {
		return 0, err
	}
	if cur >= minSize {
		return cur, nil
	}
	want := minSize
	if g.MaxSize > 0 && want > g.MaxSize {
		want = g.MaxSize
	}
	if want <= cur {
		return cur, fmt.Errorf("%s is at its %d-byte limit", dev, g.MaxSize)
	}
	if err := os.Truncate(g.file(dev), want); err != nil {
		return cur, err
	}
	if g.Refresh != nil {
		if err := g.Refresh(dev); err != nil {
			return cur, fmt.Errorf("%s grew to %d bytes but the refresh failed: %w", dev, want, err)
		}
	}
	return want, nil
}
