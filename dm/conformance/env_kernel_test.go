package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/kernel"
)

// kernelEnv runs a case on the running kernel's device-mapper: backing
// devices are sparse files in a temp dir attached as loop devices.
type kernelEnv struct {
	dir     string
	ctl     *kernel.Control
	loops   []string
	origNST time.Duration
	setNST  bool
}

func newKernelEnv(t *testing.T) (Env, error) {
	ctl, err := kernel.Open()
	if err != nil {
		return nil, fmt.Errorf("kernel device-mapper (run inside the VM: make vmtest): %w", err)
	}
	return &kernelEnv{dir: t.TempDir(), ctl: ctl}, nil
}

func (e *kernelEnv) Control() dm.Control { return e.ctl }

func (e *kernelEnv) CreateBacking(name string, size int64) (Backing, error) {
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		return Backing{}, err
	}
	if err := os.Truncate(p, size); err != nil {
		return Backing{}, err
	}
	dev, err := kernel.AttachLoop(p)
	if err != nil {
		return Backing{}, err
	}
	e.loops = append(e.loops, dev)
	return Backing{Name: name, Ref: dev, Path: p, Size: size}, nil
}

func (e *kernelEnv) GrowBacking(b Backing, size int64) error {
	if err := os.Truncate(b.Path, size); err != nil {
		return err
	}
	return kernel.RefreshLoop(b.Ref)
}

// WriteBacking writes the file under the loop device: the loop driver
// reads through the file's page cache, so the pool sees the bytes.
func (e *kernelEnv) WriteBacking(b Backing, off int64, p []byte) error {
	f, err := os.OpenFile(b.Path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteAt(p, off)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

func (e *kernelEnv) DevRef(ctx context.Context, name string) (string, error) {
	info, err := e.ctl.Info(ctx, name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%d", info.Major, info.Minor), nil
}

// SetNoSpaceTimeout rounds up to whole seconds (the kernel's unit).
func (e *kernelEnv) SetNoSpaceTimeout(d time.Duration) error {
	if !e.setNST {
		orig, err := kernel.NoSpaceTimeout()
		if err != nil {
			return err
		}
		e.origNST, e.setNST = orig, true
	}
	d = (d + time.Second - 1).Truncate(time.Second)
	return kernel.SetNoSpaceTimeout(d)
}

// CheckMetadata runs thin_check on the metadata loop device.
func (e *kernelEnv) CheckMetadata(ctx context.Context, b Backing) error {
	return ThinCheck(ctx, b.Ref)
}

func (e *kernelEnv) Close() error {
	var errs []error
	for i := len(e.loops) - 1; i >= 0; i-- {
		if err := kernel.DetachLoop(e.loops[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if e.setNST {
		if err := kernel.SetNoSpaceTimeout(e.origNST); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.ctl.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
