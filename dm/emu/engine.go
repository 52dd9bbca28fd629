package emu

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

// Options configure an Engine.
type Options struct {
	// Dir is the root directory: relative device paths in tables resolve
	// here, and it holds the lock file that keeps two processes apart.
	Dir string
	// NoSpaceTimeout is the module parameter no_space_timeout: how long a
	// write queues when the pool is out of data space (0 = 60s, <0 =
	// forever).
	NoSpaceTimeout time.Duration
	// CommitPeriod is the kernel's COMMIT_PERIOD (default 1s).
	CommitPeriod time.Duration
	// Logger receives what the kernel would log (optional).
	Logger *slog.Logger
}

// DefaultNoSpaceTimeout is the kernel's default no_space_timeout.
const DefaultNoSpaceTimeout = 60 * time.Second

// DefaultCommitPeriod is the kernel's COMMIT_PERIOD.
const DefaultCommitPeriod = time.Second

// majorDM is the block major the engine reports for its devices (253,
// device-mapper's usual dynamic major).
const majorDM = 253

// Engine is the userspace device-mapper: a registry of devices whose
// tables use the linear, thin-pool and thin targets implemented here.
type Engine struct {
	opts   Options
	log    *slog.Logger
	lock   *os.File
	noSpc  atomic.Int64
	period time.Duration

	mu        sync.Mutex
	devs      map[string]*device
	nextMinor uint32
	pools     map[string]*pool // by metadata file (the kernel's pool table)
	closed    bool
}

var _ dm.Control = (*Engine)(nil)

// New opens an engine rooted at opts.Dir. It takes an exclusive flock on
// Dir/.emu.lock: two engines must never drive the same files.
func New(opts Options) (*Engine, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("emu: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("emu: %w", err)
	}
	opts.Dir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("emu: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, ".emu.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("emu: lock file: %w", err)
	}
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("emu: %s is in use by another engine: %w", dir, err)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Engine{opts: opts, log: lg, lock: lf, devs: map[string]*device{}, pools: map[string]*pool{}}
	e.SetNoSpaceTimeout(opts.NoSpaceTimeout)
	e.period = opts.CommitPeriod
	if e.period <= 0 {
		e.period = DefaultCommitPeriod
	}
	return e, nil
}

// SetNoSpaceTimeout changes no_space_timeout (0 = default, <0 = forever);
// like the module parameter it applies when a pool next runs out of space.
func (e *Engine) SetNoSpaceTimeout(d time.Duration) {
	if d == 0 {
		d = DefaultNoSpaceTimeout
	}
	e.noSpc.Store(int64(d))
}

func (e *Engine) noSpaceTimeout() time.Duration { return time.Duration(e.noSpc.Load()) }

// Close shuts the engine down in order: every device is suspended (pools
// commit) and removed, files are closed and the lock released.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var first error
	// Thins before pools: remove devices nothing else holds open first.
	for len(e.devs) > 0 {
		progress := false
		for _, d := range e.sortedDevs() {
			if d.opens > 0 && !e.onlyHandles(d) {
				continue
			}
			if err := e.teardown(d); err != nil && first == nil {
				first = err
			}
			progress = true
		}
		if !progress {
			for _, d := range e.sortedDevs() {
				if err := e.teardown(d); err != nil && first == nil {
					first = err
				}
			}
		}
	}
	for _, p := range e.pools {
		p.shutdown(true)
	}
	unix.Flock(int(e.lock.Fd()), unix.LOCK_UN)
	e.lock.Close()
	return first
}

// onlyHandles is true when every opener of d is a BlockDevice handle (no
// table of another device refers to it).
func (e *Engine) onlyHandles(d *device) bool {
	for _, o := range e.devs {
		for _, t := range []*tableInst{o.live, o.inactive} {
			if t == nil {
				continue
			}
			for _, dep := range t.deps {
				if dep == d {
					return false
				}
			}
		}
	}
	return true
}

// Crash drops all in-memory state without committing and closes every file
// descriptor, as if the process had been killed. The engine is unusable
// afterwards; open a new one on the same Dir.
func (e *Engine) Crash() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.closed = true
	for _, d := range e.devs {
		d.removed = true
		d.gate.kill()
	}
	for _, p := range e.pools {
		p.shutdown(false)
	}
	e.devs = map[string]*device{}
	e.pools = map[string]*pool{}
	unix.Flock(int(e.lock.Fd()), unix.LOCK_UN)
	e.lock.Close()
}

func (e *Engine) sortedDevs() []*device {
	out := make([]*device, 0, len(e.devs))
	for _, d := range e.devs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// teardown suspends and removes d regardless of openers (engine close).
func (e *Engine) teardown(d *device) error {
	var err error
	if d.live != nil && !d.suspended {
		err = e.suspendLocked(d, false)
	}
	d.removed = true
	d.gate.kill()
	d.inactive.destroy()
	d.live.destroy()
	d.live, d.inactive = nil, nil
	d.size.Store(0)
	delete(e.devs, d.name)
	return err
}

// resolveDevice finds an engine device named by "/dev/mapper/NAME", "NAME"
// or "253:MINOR".
func (e *Engine) resolveDevice(ref string) *device {
	if name, ok := strings.CutPrefix(ref, "/dev/mapper/"); ok {
		return e.devs[name]
	}
	if maj, min, ok := strings.Cut(ref, ":"); ok {
		if maj == strconv.Itoa(majorDM) {
			if m, err := strconv.ParseUint(min, 10, 32); err == nil {
				for _, d := range e.devs {
					if d.minor == uint32(m) {
						return d
					}
				}
			}
		}
		return nil
	}
	return e.devs[ref]
}

// resolvePath turns a table's file reference into an absolute path.
func (e *Engine) resolvePath(ref string) string {
	if filepath.IsAbs(ref) {
		return filepath.Clean(ref)
	}
	return filepath.Join(e.opts.Dir, ref)
}

func devNum(d *device) string { return fmt.Sprintf("%d:%d", majorDM, d.minor) }

func (e *Engine) info(d *device) dm.DeviceInfo {
	ev, _ := d.events()
	inf := dm.DeviceInfo{Name: d.name, UUID: d.uuid, Major: majorDM, Minor: d.minor, OpenCount: d.opens,
		EventNr: ev, Suspended: d.suspended, LiveTable: d.live != nil, InactiveTable: d.inactive != nil,
		ReadOnly: d.readOnly}
	if d.live != nil {
		inf.TargetCount = uint32(len(d.live.targets))
	}
	return inf
}

func errf(op, dev, arg string, kind error, errno syscall.Errno, detail string, a ...any) *dm.Error {
	if len(a) > 0 {
		detail = fmt.Sprintf(detail, a...)
	}
	return &dm.Error{Op: op, Device: dev, Arg: arg, Kind: kind, Errno: errno, Detail: detail}
}

func notFound(op, name string) error {
	return errf(op, name, "", dm.ErrDeviceNotFound, syscall.ENXIO, "")
}

var errClosed = errors.New("emu: engine is closed")
