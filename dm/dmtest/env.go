package dmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/emu"
	"github.com/thinraft/thinraft/dm/kernel"
)

// Backing is a backing device: Ref is what a table line (and a thinpool
// Config) uses for it — a loop device node on the kernel, the file path on
// the userspace engine — and Path the sparse file behind it.
type Backing struct {
	Name string
	Ref  string
	Path string
	Size int64
}

// Env is one test's view of an engine: its dm.Control, its backing devices
// and its module parameters. Methods are not safe for concurrent use;
// Control() is, as every dm.Control.
type Env struct {
	engine string
	dir    string

	eng  *emu.Engine     // Emu, nil between Crash and Reopen
	kctl *kernel.Control // Kernel, nil between Crash and Reopen

	loops []string // loop devices this Env attached, detached by Close
	// nst is the no_space_timeout a test set; the engine forgets it on a
	// restart (a new process), so Reopen applies it again.
	nst     time.Duration
	origNST time.Duration
	setNST  bool
	closed  bool
}

// New opens an Env for engine with its files under dir (which must exist):
// backing files there, and the userspace engine's root in dir/engine. Two
// Envs on the same dir and engine Emu exclude each other (the engine's
// lock): Crash the first before a second (a child process) opens it.
func New(engine, dir string) (*Env, error) {
	if err := CheckEngine("engine", engine); err != nil {
		return nil, err
	}
	e := &Env{engine: engine, dir: dir}
	if _, err := e.Reopen(); err != nil {
		return nil, err
	}
	return e, nil
}

// ForTest is New on a fresh t.TempDir(), closed when t ends; it fails t
// on error.
func ForTest(t testing.TB, engine string) *Env {
	t.Helper()
	e, err := New(engine, t.TempDir())
	if err != nil {
		t.Fatalf("dmtest: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("dmtest: close env: %v", err)
		}
	})
	return e
}

// Engine is Emu or Kernel.
func (e *Env) Engine() string { return e.engine }

// Dir is the directory of the backing files.
func (e *Env) Dir() string { return e.dir }

// EngineDir is the userspace engine's root directory (its lock, and the
// base of relative paths in its tables).
func (e *Env) EngineDir() string { return filepath.Join(e.dir, "engine") }

// Control is the dm.Control under test; nil between Crash and Reopen.
func (e *Env) Control() dm.Control {
	switch {
	case e.eng != nil:
		return e.eng
	case e.kctl != nil:
		return e.kctl
	}
	return nil
}

// Emu returns the userspace engine, or nil on the kernel.
func (e *Env) Emu() *emu.Engine { return e.eng }

// Crash drops the control as a killed process would. On the userspace
// engine every uncommitted in-memory state is lost and every device is
// gone (the engine lives in the process); on the kernel only the control
// node is closed and the devices stay, as they do on a real host.
func (e *Env) Crash() {
	if e.eng != nil {
		e.eng.Crash()
		e.eng = nil
	}
	if e.kctl != nil {
		_ = e.kctl.Close()
		e.kctl = nil
	}
}

// Reopen opens the control again after Crash (a new process starting):
// a new engine on the same directory, or the kernel's control node.
func (e *Env) Reopen() (dm.Control, error) {
	if e.closed {
		return nil, errors.New("dmtest: env is closed")
	}
	if c := e.Control(); c != nil {
		return c, nil
	}
	switch e.engine {
	case Emu:
		eng, err := emu.New(emu.Options{Dir: e.EngineDir(), NoSpaceTimeout: e.nst})
		if err != nil {
			return nil, fmt.Errorf("dmtest: userspace engine: %w", err)
		}
		e.eng = eng
	case Kernel:
		ctl, err := kernel.Open()
		if err != nil {
			return nil, fmt.Errorf("dmtest: kernel device-mapper (run inside the VM: make vmtest): %w", err)
		}
		e.kctl = ctl
	}
	return e.Control(), nil
}

// Restart is Crash then Reopen.
func (e *Env) Restart() (dm.Control, error) {
	e.Crash()
	return e.Reopen()
}

// CreateBacking makes a zero-filled sparse backing device of size bytes;
// name is unique within the Env.
func (e *Env) CreateBacking(name string, size int64) (Backing, error) {
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		return Backing{}, err
	}
	if err := os.Truncate(p, size); err != nil {
		return Backing{}, err
	}
	b := Backing{Name: name, Ref: p, Path: p, Size: size}
	if e.engine == Kernel {
		dev, err := kernel.AttachLoop(p)
		if err != nil {
			return Backing{}, err
		}
		e.loops = append(e.loops, dev)
		b.Ref = dev
	}
	return b, nil
}

// GrowBacking enlarges b's file to size bytes and makes the new size
// visible (a loop device is refreshed).
func (e *Env) GrowBacking(b Backing, size int64) error {
	if err := os.Truncate(b.Path, size); err != nil {
		return err
	}
	return e.Refresh(b.Ref)
}

// Refresh makes the engine see the current size of the file behind ref:
// LOOP_SET_CAPACITY on the kernel, nothing on the userspace engine (it
// stats its files). It has the shape of thinpool.FileGrower.Refresh.
func (e *Env) Refresh(ref string) error {
	if e.engine == Kernel {
		return kernel.RefreshLoop(ref)
	}
	return nil
}

// WriteBacking writes p at off straight to the file under b, below
// device-mapper (the loop driver reads through the file's page cache, so
// the kernel pool sees the bytes).
func (e *Env) WriteBacking(b Backing, off int64, p []byte) error {
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

// DevRef is how a table line names the device-mapper device name
// (MAJOR:MINOR, valid on both engines).
func (e *Env) DevRef(ctx context.Context, name string) (string, error) {
	c := e.Control()
	if c == nil {
		return "", errors.New("dmtest: control is crashed; Reopen first")
	}
	info, err := c.Info(ctx, name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%d", info.Major, info.Minor), nil
}

// SetNoSpaceTimeout sets dm-thin-pool's no_space_timeout (the kernel
// rounds up to whole seconds; so does this, on both engines). Close
// restores the kernel's previous value.
func (e *Env) SetNoSpaceTimeout(d time.Duration) error {
	d = (d + time.Second - 1).Truncate(time.Second)
	e.nst = d
	switch e.engine {
	case Emu:
		if e.eng != nil {
			e.eng.SetNoSpaceTimeout(d)
		}
		return nil
	default:
		if !e.setNST {
			orig, err := kernel.NoSpaceTimeout()
			if err != nil {
				return err
			}
			e.origNST, e.setNST = orig, true
		}
		return kernel.SetNoSpaceTimeout(d)
	}
}

// CheckMetadata checks the pool metadata on b with the
// thin-provisioning-tools, after every pool using it was removed: thin_check
// on the kernel's metadata device; on the userspace engine its metadata is
// exported as thin_dump XML, restored with thin_restore and thin_checked
// (the second oracle). A held metadata root is checked the same way, on its
// own: thin_restore (0.9) writes a superblock whose metadata_snap points at
// a block it never wrote, so the live dump goes through the tools without it.
func (e *Env) CheckMetadata(ctx context.Context, b Backing) error {
	if e.engine == Kernel {
		return ThinCheck(ctx, b.Ref)
	}
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

func (e *Env) restoreAndCheck(ctx context.Context, d *dm.MetadataDump, b Backing) error {
	dir, err := os.MkdirTemp(e.dir, "check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := os.Stat(b.Path)
	if err != nil {
		return err
	}
	return RestoreAndCheck(ctx, d, dir, st.Size())
}

// Close shuts the control down (the userspace engine removes its devices
// and commits), detaches the loop devices this Env attached and restores
// no_space_timeout. It is idempotent. Devices left on the kernel stay; a
// test removes what it made before Close.
func (e *Env) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	var errs []error
	if e.eng != nil {
		if err := e.eng.Close(); err != nil {
			errs = append(errs, err)
		}
		e.eng = nil
	}
	for i := len(e.loops) - 1; i >= 0; i-- {
		if err := kernel.DetachLoop(e.loops[i]); err != nil {
			errs = append(errs, err)
		}
	}
	e.loops = nil
	if e.setNST {
		if err := kernel.SetNoSpaceTimeout(e.origNST); err != nil {
			errs = append(errs, err)
		}
	}
	if e.kctl != nil {
		if err := e.kctl.Close(); err != nil {
			errs = append(errs, err)
		}
		e.kctl = nil
	}
	return errors.Join(errs...)
}
