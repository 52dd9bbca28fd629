package thinpool

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/dmtest"
)

// The engine flag is shared with the other test files of this package;
// whichever file registers it first wins (a package-level var runs before
// this init), so the tests agree on its value.
func init() {
	if flag.Lookup("thinpool.engine") == nil {
		dmtest.EngineFlag("thinpool.engine")
	}
}

func engineName() string { return flag.Lookup("thinpool.engine").Value.String() }

// spaceEnv is a dmtest.Env with the pools a test opened on it: backing
// devices are sparse files on the userspace engine, loop devices over
// sparse files on the kernel.
type spaceEnv struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	env    *dmtest.Env
	ctl    dm.Control
	kernel bool
	// files maps a backing device (loop device on the kernel) to its file.
	files map[string]string
	pools []*Pool
}

func newSpaceEnv(t *testing.T) *spaceEnv {
	t.Helper()
	if err := dmtest.CheckEngine("thinpool.engine", engineName()); err != nil {
		t.Fatal(err)
	}
	env := dmtest.ForTest(t, engineName())
	e := &spaceEnv{t: t, ctx: context.Background(), dir: env.Dir(), env: env, ctl: env.Control(),
		kernel: env.Engine() == dmtest.Kernel, files: map[string]string{}}
	// Registered after the env's Close, so it runs before it.
	t.Cleanup(e.teardown)
	return e
}

// backing makes a sparse backing file of size bytes and returns the device
// a pool table names (the file itself, or a loop device over it).
func (e *spaceEnv) backing(name string, size int64) string {
	e.t.Helper()
	b, err := e.env.CreateBacking(name, size)
	if err != nil {
		e.t.Fatal(err)
	}
	e.files[b.Ref] = b.Path
	return b.Ref
}

// grower grows this env's backing files up to maxSize bytes (0: no limit),
// refreshing loop devices on the kernel.
func (e *spaceEnv) grower(maxSize int64) FileGrower {
	return FileGrower{MaxSize: maxSize, Files: e.files, Refresh: e.env.Refresh}
}

// pool opens a new pool over fresh backing devices of the given sizes.
func (e *spaceEnv) pool(cfg Config, metaSize, dataSize int64, gr func() Grower) *Pool {
	e.t.Helper()
	cfg.MetadataDev = e.backing(cfg.Name+"-meta", metaSize)
	cfg.DataDev = e.backing(cfg.Name+"-data", dataSize)
	rec, err := NewFileRecord(filepath.Join(e.dir, cfg.Name+"-record.json"), cfg.Name)
	if err != nil {
		e.t.Fatal(err)
	}
	var g Grower = e.grower(0)
	if gr != nil {
		g = gr()
	}
	p, err := Open(e.ctx, cfg, Options{Control: e.ctl, Record: rec, Grower: g})
	if err != nil {
		e.t.Fatal(err)
	}
	e.pools = append(e.pools, p)
	return p
}

func (e *spaceEnv) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, p := range e.pools {
		if err := p.Deactivate(ctx); err != nil {
			e.t.Errorf("teardown: %v", err)
		}
	}
}

func TestFileGrowerPartialAndLimit(t *testing.T) {
	ctx := context.Background()
	f := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(f, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	g := FileGrower{MaxSize: 1500}
	if got, err := g.Grow(ctx, f, 900); err != nil || got != 1000 {
		t.Fatalf("grow to a smaller size: %d, %v; want 1000 unchanged", got, err)
	}
	if got, err := g.Grow(ctx, f, 2000); err != nil || got != 1500 {
		t.Fatalf("grow past the limit: %d, %v; want a partial growth to 1500", got, err)
	}
	if sz, _ := g.Size(ctx, f); sz != 1500 {
		t.Fatalf("file is %d bytes, want 1500", sz)
	}
	if _, err := g.Grow(ctx, f, 1600); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("grow at the limit: %v, want an error naming the limit", err)
	}
	refreshed := ""
	g = FileGrower{Files: map[string]string{"/dev/loop9": f}, Refresh: func(dev string) error { refreshed = dev; return nil }}
	if got, err := g.Grow(ctx, "/dev/loop9", 4096); err != nil || got != 4096 || refreshed != "/dev/loop9" {
		t.Fatalf("grow through a device map: %d, %v, refreshed %q", got, err, refreshed)
	}
	g.Refresh = func(string) error { return errors.New("boom") }
	if _, err := g.Grow(ctx, "/dev/loop9", 8192); err == nil || !strings.Contains(err.Error(), "refresh") {
		t.Fatalf("a failed refresh must fail the grow: %v", err)
	}
}

func TestGrowTargetBringsUsageUnderThreshold(t *testing.T) {
	p := &Pool{cfg: Config{Name: "p"}.withDefaults()}
	chunk := int64(p.cfg.ChunkSectors) * dm.SectorSize
	for _, tc := range []struct {
		blocks, used int64
	}{{100, 70}, {100, 99}, {100, 100}, {1000, 700}, {16, 16}, {1, 1}} {
		cur := tc.blocks * chunk
		usage := func(size int64) float64 { return 100 * float64(tc.used) / float64(size/chunk) }
		got := p.growTarget(cur, usage)
		if got <= cur || got%chunk != 0 {
			t.Fatalf("%+v: target %d not a chunk multiple above %d", tc, got, cur)
		}
		if u := usage(got); u >= float64(p.cfg.Autoextend.ThresholdPercent) {
			t.Fatalf("%+v: target %d blocks leaves usage at %.1f%%", tc, got/chunk, u)
		}
		// One step fewer would not have done: the growth is not wasteful.
		prev := got - chunk - got*int64(p.cfg.Autoextend.Percent)/(100+int64(p.cfg.Autoextend.Percent))
		if prev > cur && usage(prev) < float64(p.cfg.Autoextend.ThresholdPercent)-5 {
			t.Fatalf("%+v: target %d blocks overshoots (%d would have left %.1f%%)", tc, got/chunk, prev/chunk, usage(prev))
		}
	}
}

func TestMetaReserveMatchesKernel(t *testing.T) {
	// __set_metadata_reserve: min(4096, total/10).
	for _, tc := range []struct{ total, want uint64 }{{512, 51}, {16384, 1638}, {40960, 4096}, {1 << 22, 4096}, {5, 0}} {
		if got := metaReserve(tc.total); got != tc.want {
			t.Fatalf("metaReserve(%d) = %d, want %d", tc.total, got, tc.want)
		}
	}
}
