package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/thinraft/thinraft/dm/kernel"
	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// LoopStorage backs pools with loop devices over FileStorage's files: the
// kernel engine's backing devices on a node without spare disks (and
// inside the test VM). Bindings outlive the process, as the dm devices on
// them do; a restarted agent finds and reuses them.
type LoopStorage struct {
	Files FileStorage

	mu   sync.Mutex
	devs map[string]string // loop device -> backing file
}

// NewLoopStorage keeps files under dir, each at most maxSize bytes (0: no
// limit).
func NewLoopStorage(dir string, maxSize int64) *LoopStorage {
	return &LoopStorage{Files: FileStorage{Dir: dir, MaxSize: maxSize}, devs: map[string]string{}}
}

// Prepare creates or grows the files (FileStorage.Prepare), then binds each
// to a loop device, reusing a binding a previous process left and making
// it see the file's current size.
func (s *LoopStorage) Prepare(ctx context.Context, pool metadata.Pool) (string, string, error) {
	metaFile, dataFile, err := s.Files.Prepare(ctx, pool)
	if err != nil {
		return "", "", err
	}
	metaDev, err := s.bind(metaFile)
	if err != nil {
		return "", "", fmt.Errorf("pool %s: %w", pool.UUID, err)
	}
	dataDev, err := s.bind(dataFile)
	if err != nil {
		return "", "", fmt.Errorf("pool %s: %w", pool.UUID, err)
	}
	return metaDev, dataDev, nil
}

func (s *LoopStorage) bind(file string) (string, error) {
	abs, err := canonical(file)
	if err != nil {
		return "", err
	}
	devs, err := boundLoops(abs)
	if err != nil {
		return "", err
	}
	var dev string
	if len(devs) > 0 {
		// A binding a previous process left (agent restart, crash). The
		// file may have grown since it was made (a crash between growing
		// it and refreshing the device).
		dev = devs[0]
		if err := kernel.RefreshLoop(dev); err != nil {
			return "", err
		}
	} else if dev, err = kernel.AttachLoop(abs); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.devs[dev] = abs
	s.mu.Unlock()
	return dev, nil
}

// canonical is the absolute, symlink-free path of file: the kernel
// records a loop device's backing file by its real path, and a binding is
// found again only under that name (a data directory reached through a
// symlink would otherwise get a second loop device at every restart).
func canonical(file string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("loop backing file: %w", err)
	}
	return real, nil
}

// boundLoops returns the loop devices bound to file (by its canonical
// path), sorted by name.
func boundLoops(file string) ([]string, error) {
	paths, err := filepath.Glob("/sys/block/loop*/loop/backing_file")
	if err != nil {
		return nil, err
	}
	var devs []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // unbound while we looked
		}
		if strings.TrimSpace(string(b)) == file {
			devs = append(devs, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(p))))
		}
	}
	sort.Strings(devs)
	return devs, nil
}

// Bindings returns the loop devices bound to pool uuid's metadata and data
// files: one each while the pool is prepared, none after Release. More
// than one means a binding was not found again and a second was made.
func (s *LoopStorage) Bindings(uuid string) (meta, data []string, err error) {
	metaFile, dataFile := s.Files.Paths(uuid)
	for _, f := range []struct {
		file string
		out  *[]string
	}{{metaFile, &meta}, {dataFile, &data}} {
		abs, err := canonical(f.file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if *f.out, err = boundLoops(abs); err != nil {
			return nil, nil, err
		}
	}
	return meta, data, nil
}

// Release unbinds every loop device bound to pool uuid's files, whichever
// process bound them. Only for teardown once the pool's dm devices are
// removed (an operator removing a pool, tests); the files stay.
func (s *LoopStorage) Release(uuid string) error {
	meta, data, err := s.Bindings(uuid)
	if err != nil {
		return fmt.Errorf("pool %s: %w", uuid, err)
	}
	for _, d := range append(meta, data...) {
		if err := kernel.DetachLoop(d); err != nil {
			return fmt.Errorf("pool %s: %w", uuid, err)
		}
		s.mu.Lock()
		delete(s.devs, d)
		s.mu.Unlock()
	}
	return nil
}

// Grower grows a loop device's file and refreshes the device.
func (s *LoopStorage) Grower() thinpool.Grower {
	s.mu.Lock()
	defer s.mu.Unlock()
	files := make(map[string]string, len(s.devs))
	for d, f := range s.devs {
		files[d] = f
	}
	return thinpool.FileGrower{MaxSize: s.Files.MaxSize, Files: files, Refresh: kernel.RefreshLoop}
}

// Detach unbinds every loop device this storage bound or found. Only for
// teardown after the pools on them are gone (tests, pool removal).
func (s *LoopStorage) Detach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for d := range s.devs {
		if err := kernel.DetachLoop(d); err != nil && first == nil {
			first = err
		}
		delete(s.devs, d)
	}
	return first
}
