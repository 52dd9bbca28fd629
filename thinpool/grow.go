package thinpool

import (
	"context"
	"fmt"
	"os"
)

// FileGrower grows file-backed devices (the userspace engine's backing
// files) with ftruncate, up to MaxSize bytes per file (0 = no limit). Refresh,
// if set, runs after a file grew (dm/kernel's loop devices need
// LOOP_SET_CAPACITY); it maps a device name to its backing file via Files.
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

// Grow extends the backing file to at least minSize (sparse).
func (g FileGrower) Grow(ctx context.Context, dev string, minSize int64) (int64, error) {
	cur, err := g.Size(ctx, dev)
	if err != nil {
		return 0, err
	}
	if cur >= minSize {
		return cur, nil
	}
	if g.MaxSize > 0 && minSize > g.MaxSize {
		return cur, fmt.Errorf("%s: %d bytes would exceed the %d-byte limit", dev, minSize, g.MaxSize)
	}
	if err := os.Truncate(g.file(dev), minSize); err != nil {
		return cur, err
	}
	if g.Refresh != nil {
		if err := g.Refresh(dev); err != nil {
			return cur, err
		}
	}
	return minSize, nil
}
