package nbd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/dmtest"
	"github.com/thinraft/thinraft/thinpool"
)

// engine selects the dm.Control the pool tests run on (-thinpool.engine=emu|kernel).
var engine = dmtest.EngineFlag("thinpool.engine")

// testPool is a thin pool on the selected engine, removed when the test ends.
type testPool struct {
	env  *dmtest.Env
	pool *thinpool.Pool
}

// newTestPool makes a pool with dataSize bytes of data space and the
// given discard mode (64 KiB blocks).
func newTestPool(t *testing.T, dataSize int64, discards dm.DiscardMode) *testPool {
	t.Helper()
	if err := dmtest.CheckEngine("thinpool.engine", *engine); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	env := dmtest.ForTest(t, *engine)
	meta, err := env.CreateBacking("meta", 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	data, err := env.CreateBacking("data", dataSize)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := thinpool.NewFileRecord(filepath.Join(env.Dir(), "record.json"), "p")
	if err != nil {
		t.Fatal(err)
	}
	// Pool names are global on the kernel: make each test's unique.
	var rb [4]byte
	rand.Read(rb[:])
	name := "nbd" + hex.EncodeToString(rb[:])
	gr := thinpool.FileGrower{Files: map[string]string{data.Ref: data.Path, meta.Ref: meta.Path}, Refresh: env.Refresh}
	p, err := thinpool.Open(ctx, thinpool.Config{Name: name, MetadataDev: meta.Ref, DataDev: data.Ref, Discards: discards},
		thinpool.Options{Control: env.Control(), Record: rec, Grower: gr})
	if err != nil {
		t.Fatal(err)
	}
	// Registered after env's cleanup, so it runs before the env closes.
	t.Cleanup(func() {
		if err := p.Deactivate(context.Background()); err != nil {
			t.Errorf("deactivate pool: %v", err)
		}
	})
	return &testPool{env: env, pool: p}
}

// serve starts a server for exp on a unix socket in a temp dir and returns
// the socket path; the server is shut down when the test ends.
func serve(t *testing.T, exp *Export, opts Options) (*Server, string) {
	t.Helper()
	s, err := NewServer(exp, opts)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(shortTempDir(t), "nbd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, sock
}

// shortTempDir: unix socket paths are limited to 108 bytes, and
// t.TempDir() under a long test name can exceed that.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "nbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// memDev is an in-memory dm.BlockDevice with the same alignment rule as
// both engines; it records the IOs it sees.
type memDev struct {
	mu       sync.Mutex
	data     []byte
	flushes  int
	discards [][2]int64
	closed   bool
}

func newMemDev(size int64) *memDev { return &memDev{data: make([]byte, size)} }

func (m *memDev) check(off int64, n int) error {
	if off%dm.SectorSize != 0 || n%dm.SectorSize != 0 || off < 0 {
		return &dm.Error{Op: "io", Kind: dm.ErrUnaligned, Errno: syscall.EINVAL}
	}
	return nil
}

func (m *memDev) ReadAt(p []byte, off int64) (int, error) {
	if err := m.check(off, len(p)); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memDev) WriteAt(p []byte, off int64) (int, error) {
	if err := m.check(off, len(p)); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if off+int64(len(p)) > int64(len(m.data)) {
		return 0, &dm.Error{Op: "write", Errno: syscall.ENOSPC}
	}
	return copy(m.data[off:], p), nil
}

func (m *memDev) Flush() error {
	m.mu.Lock()
	m.flushes++
	m.mu.Unlock()
	return nil
}

// Discard zeroes whole 64 KiB blocks, as a thin device unmaps them.
func (m *memDev) Discard(off, length int64) error {
	if err := m.check(off, int(length)); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.discards = append(m.discards, [2]int64{off, length})
	const b = 64 << 10
	for s := (off + b - 1) / b * b; s+b <= off+length || (s < off+length && off+length == int64(len(m.data))); s += b {
		clear(m.data[s:min(s+b, int64(len(m.data)))])
	}
	return nil
}

func (m *memDev) Size() int64 { return int64(len(m.data)) }

func (m *memDev) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

// flushCount and snapshot read the device under its lock (the test learns
// of server progress through a socket, which the race detector cannot see).
func (m *memDev) flushCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.flushes
}

func (m *memDev) snapshot() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.data)
}
