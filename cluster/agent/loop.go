package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	dev, err := findLoop(abs)
	if err != nil {
		return "", err
	}
	if dev != "" {
		// The file may have grown since the binding was made (a crash
		// between growing it and refreshing the device).
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

// findLoop returns the loop device bound to file, "" if none.
func findLoop(file string) (string, error) {
	paths, err := filepath.Glob("/sys/block/loop*/loop/backing_file")
	if err != nil {
		return "", err
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // unbound while we looked
		}
		if strings.TrimSpace(string(b)) == file {
			return "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(p))), nil
		}
	}
	return "", nil
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
