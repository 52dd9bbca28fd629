package agent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/metadata"
)

// TestLoopStorage: a pool's files are bound to loop devices of their
// size; a second Prepare (a restarted agent) reuses the bindings; growth
// through the Grower is seen by the device.
func TestLoopStorage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loop devices need root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no loop devices:", err)
	}
	dir := t.TempDir()
	s := NewLoopStorage(dir, 64*mib)
	t.Cleanup(func() {
		if err := s.Detach(); err != nil {
			t.Error(err)
		}
	})
	p := metadata.Pool{UUID: "0f0e0d0c-0b0a-4908-8706-050403020100", MetaBytes: 4 * mib, DataBytes: 16 * mib}
	ctx := context.Background()
	meta, data, err := s.Prepare(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(meta, "/dev/loop") || !strings.HasPrefix(data, "/dev/loop") || meta == data {
		t.Fatalf("devices %s %s", meta, data)
	}
	if got := loopBytes(t, data); got != 16*mib {
		t.Fatalf("data device %d bytes", got)
	}
	// A restart: a new storage finds the same bindings, also when it
	// reaches the data directory through a symlink (the kernel records
	// the real path).
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	s2 := NewLoopStorage(link, 64*mib)
	meta2, data2, err := s2.Prepare(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if meta2 != meta || data2 != data {
		t.Fatalf("rebound: %s %s, want %s %s", meta2, data2, meta, data)
	}
	got, err := s2.Grower().Grow(ctx, data, 24*mib)
	if err != nil || got != 24*mib {
		t.Fatalf("grow: %d, %v", got, err)
	}
	if n := loopBytes(t, data); n != 24*mib {
		t.Fatalf("device %d bytes after growing the file to %d", n, 24*mib)
	}
	if fi, err := os.Stat(filepath.Join(dir, "pools", p.UUID+".data")); err != nil || fi.Size() != 24*mib {
		t.Fatalf("file: %v %v", fi, err)
	}
	bm, bd, err := s2.Bindings(p.UUID)
	if err != nil || len(bm) != 1 || len(bd) != 1 || bm[0] != meta || bd[0] != data {
		t.Fatalf("bindings %v %v (%v), want [%s] [%s]", bm, bd, err, meta, data)
	}
	// Release unbinds them whoever bound them (here: the first storage).
	if err := s2.Release(p.UUID); err != nil {
		t.Fatal(err)
	}
	if bm, bd, err := s.Bindings(p.UUID); err != nil || len(bm)+len(bd) != 0 {
		t.Fatalf("after release: %v %v %v", bm, bd, err)
	}
}

func loopBytes(t *testing.T, dev string) int64 {
	t.Helper()
	b, err := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/size")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n * 512
}
