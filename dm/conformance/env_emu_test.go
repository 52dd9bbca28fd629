package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/emu"
)

// emuEnv runs a case on a fresh userspace engine rooted in a temp dir;
// backing devices are sparse files there.
type emuEnv struct {
	dir string
	eng *emu.Engine
}

func newEmuEnv(t *testing.T) (Env, error) {
	dir := t.TempDir()
	eng, err := emu.New(emu.Options{Dir: filepath.Join(dir, "engine")})
	if err != nil {
		return nil, err
	}
	return &emuEnv{dir: dir, eng: eng}, nil
}

func (e *emuEnv) Control() dm.Control { return e.eng }

func (e *emuEnv) CreateBacking(name string, size int64) (Backing, error) {
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		return Backing{}, err
	}
	if err := os.Truncate(p, size); err != nil {
		return Backing{}, err
	}
	return Backing{Name: name, Ref: p, Path: p, Size: size}, nil
}

func (e *emuEnv) GrowBacking(b Backing, size int64) error { return os.Truncate(b.Path, size) }

func (e *emuEnv) WriteBacking(b Backing, off int64, p []byte) error {
	f, err := os.OpenFile(b.Path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteAt(p, off)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

func (e *emuEnv) DevRef(ctx context.Context, name string) (string, error) {
	info, err := e.eng.Info(ctx, name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%d", info.Major, info.Minor), nil
}

func (e *emuEnv) SetNoSpaceTimeout(d time.Duration) error {
	e.eng.SetNoSpaceTimeout(d)
	return nil
}

// CheckMetadata exports the engine's metadata of b as thin_dump XML,
// restores it with thin_restore and thin_checks the result. A held
// metadata root is checked the same way, on its own: thin_restore (0.9)
// writes a superblock whose metadata_snap points at a block it never
// wrote, so the live dump goes through the tools without it.
func (e *emuEnv) CheckMetadata(ctx context.Context, b Backing) error {
	d, err := emu.DumpMetadata(b.Path, false)
	if err != nil {
		return fmt.Errorf("export metadata: %w", err)
	}
	held := d.MetadataSnap != 0
	d.MetadataSnap = 0
	if err := e.restoreAndCheck(ctx, d, b); err != nil {
		return err
	}
	if !held {
		return nil
	}
	snap, err := emu.DumpMetadata(b.Path, true)
	if err != nil {
		return fmt.Errorf("export held metadata root: %w", err)
	}
	snap.MetadataSnap = 0
	if err := e.restoreAndCheck(ctx, snap, b); err != nil {
		return fmt.Errorf("held metadata root: %w", err)
	}
	return nil
}

func (e *emuEnv) restoreAndCheck(ctx context.Context, d *dm.MetadataDump, b Backing) error {
	dir, err := os.MkdirTemp(e.dir, "check-")
	if err != nil {
		return err
	}
	return RestoreAndCheck(ctx, d, dir, b.Size)
}

func (e *emuEnv) Close() error { return e.eng.Close() }
