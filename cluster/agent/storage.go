package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// Storage provides the backing devices of a node's pools.
type Storage interface {
	// Prepare makes sure pool's metadata and data devices exist and are at
	// least as large as the record says (creating them for a new pool,
	// growing them after a recorded pool_grow), and returns the device
	// references a pool table uses.
	Prepare(ctx context.Context, pool metadata.Pool) (metaDev, dataDev string, err error)
	// Grower grows the devices Prepare returned (autoextend) and tells
	// their sizes.
	Grower() thinpool.Grower
}

// FileStorage keeps each pool's devices as sparse files
// <Dir>/pools/<uuid>.meta and .data: the userspace engine's backing
// devices. MaxSize bounds each file (0: no limit), as a VG's free space
// bounds an LV.
type FileStorage struct {
	Dir     string
	MaxSize int64
}

// Paths returns the files of pool uuid.
func (s FileStorage) Paths(uuid string) (meta, data string) {
	base := filepath.Join(s.Dir, "pools", uuid)
	return base + ".meta", base + ".data"
}

// Prepare creates or grows the pool's files to the recorded sizes. Files
// are never shrunk: a file larger than the record was grown by autoextend
// and the record catches up with the agent's pool_grow report.
func (s FileStorage) Prepare(_ context.Context, pool metadata.Pool) (string, string, error) {
	if err := os.MkdirAll(filepath.Join(s.Dir, "pools"), 0o755); err != nil {
		return "", "", fmt.Errorf("pool %s: %w", pool.UUID, err)
	}
	meta, data := s.Paths(pool.UUID)
	for _, f := range []struct {
		path string
		size uint64
	}{{meta, pool.MetaBytes}, {data, pool.DataBytes}} {
		if err := ensureFile(f.path, int64(f.size)); err != nil {
			return "", "", fmt.Errorf("pool %s: %w", pool.UUID, err)
		}
	}
	return meta, data, nil
}

// Grower grows the files in place.
func (s FileStorage) Grower() thinpool.Grower { return thinpool.FileGrower{MaxSize: s.MaxSize} }

// ensureFile creates path sparse with size bytes, or grows it to size.
func ensureFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < size {
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("size %s to %d bytes: %w", path, size, err)
		}
	}
	return f.Sync()
}
