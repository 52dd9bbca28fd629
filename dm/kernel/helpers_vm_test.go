package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

// Tests in *_vm_test.go need a kernel with device-mapper and root; on
// other machines they skip, and they run inside qemu through
// `go run ./cmd/vmtest ./dm/kernel -- -test.v`.

func newControl(t *testing.T) *Control {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root and device-mapper: run with `go run ./cmd/vmtest ./dm/kernel`")
	}
	c, err := Open()
	if errors.Is(err, ErrNoDeviceMapper) {
		t.Skipf("%v: run with `go run ./cmd/vmtest ./dm/kernel`", err)
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testPool is a thin-pool over two loop devices on files in TMPDIR.
type testPool struct {
	c          *Control
	name       string
	dir        string
	metaFile   string
	dataFile   string
	metaDev    string
	dataDev    string
	params     dm.ThinPoolParams
	dataBytes  int64
	blockBytes int64
}

const (
	testMetaBytes  = 16 << 20
	testBlockSects = 128 // 64 KiB pool blocks
)

// newPool makes a fresh pool named after the test; everything is removed,
// the loops detached and the metadata thin_check'ed at cleanup.
func newPool(t *testing.T, c *Control, dataBytes int64, lowWater uint64, f dm.PoolFeatures) *testPool {
	t.Helper()
	p := &testPool{c: c, name: devName(t, "pool"), dir: t.TempDir(), dataBytes: dataBytes, blockBytes: testBlockSects * dm.SectorSize}
	p.metaFile = filepath.Join(p.dir, "meta")
	p.dataFile = filepath.Join(p.dir, "data")
	for _, x := range []struct {
		path string
		size int64
	}{{p.metaFile, testMetaBytes}, {p.dataFile, dataBytes}} {
		if err := os.WriteFile(x.path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(x.path, x.size); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if p.metaDev, err = AttachLoop(p.metaFile); err != nil {
		t.Fatal(err)
	}
	if p.dataDev, err = AttachLoop(p.dataFile); err != nil {
		DetachLoop(p.metaDev)
		t.Fatal(err)
	}
	p.params = dm.ThinPoolParams{MetadataDev: p.metaDev, DataDev: p.dataDev, DataBlockSectors: testBlockSects, LowWaterMark: lowWater, Features: f}
	t.Cleanup(func() { p.destroy(t) })
	if _, err := c.Create(ctxT(t), p.name, dm.CreateOptions{Table: dm.Table{p.params.Target(uint64(dataBytes / dm.SectorSize))}}); err != nil {
		t.Fatalf("create pool: %v", err)
	}
	return p
}

// devName is a device name unique to the test.
func devName(t *testing.T, suffix string) string {
	n := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	return fmt.Sprintf("kt-%s-%s", n, suffix)
}

// destroy removes every device of the test (thins first), detaches the
// loops and checks the metadata with thin_check.
func (p *testPool) destroy(t *testing.T) {
	ctx := context.Background()
	prefix := devName(t, "")
	devs, _ := p.c.List(ctx)
	for _, d := range devs {
		if strings.HasPrefix(d.Name, prefix) && d.Name != p.name {
			if err := p.c.Remove(ctx, d.Name, dm.RemoveOptions{Retries: 5}); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	if _, err := p.c.Info(ctx, p.name); err == nil {
		if err := p.c.Remove(ctx, p.name, dm.RemoveOptions{Retries: 5}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	if tc, err := exec.LookPath("thin_check"); err == nil && !t.Failed() {
		out, err := exec.Command(tc, p.metaDev).CombinedOutput()
		if err != nil {
			t.Errorf("thin_check %s: %v\n%s", p.metaDev, err, out)
		} else {
			t.Logf("thin_check %s: clean", p.metaDev)
		}
	}
	for _, d := range []string{p.dataDev, p.metaDev} {
		if err := DetachLoop(d); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

func (p *testPool) msg(t *testing.T, m string) {
	t.Helper()
	if _, err := p.c.Message(ctxT(t), p.name, 0, m); err != nil {
		t.Fatalf("message %q: %v", m, err)
	}
}

func (p *testPool) status(t *testing.T) dm.PoolStatus {
	t.Helper()
	st, err := p.c.Status(ctxT(t), p.name, dm.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Type != dm.TargetThinPool {
		t.Fatalf("pool status %+v", st)
	}
	ps, err := dm.ParsePoolStatus(st[0].Params)
	if err != nil {
		t.Fatalf("parse %q: %v", st[0].Params, err)
	}
	return ps
}

// thin activates thin id as a device of sizeBytes and opens it.
func (p *testPool) thin(t *testing.T, suffix string, id uint32, sizeBytes int64) (string, dm.BlockDevice) {
	t.Helper()
	name := devName(t, suffix)
	tp := dm.ThinParams{PoolDev: p.c.DevPath(p.name), ID: id}
	if _, err := p.c.Create(ctxT(t), name, dm.CreateOptions{Table: dm.Table{tp.Target(uint64(sizeBytes / dm.SectorSize))}}); err != nil {
		t.Fatalf("activate thin %d: %v", id, err)
	}
	bd, err := p.c.Open(ctxT(t), name)
	if err != nil {
		t.Fatalf("open thin %d: %v", id, err)
	}
	t.Cleanup(func() { bd.Close() })
	return name, bd
}

func (p *testPool) thinStatus(t *testing.T, name string) dm.ThinStatus {
	t.Helper()
	st, err := p.c.Status(ctxT(t), name, dm.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Type != dm.TargetThin {
		t.Fatalf("thin status %+v", st)
	}
	ts, err := dm.ParseThinStatus(st[0].Params)
	if err != nil {
		t.Fatalf("parse %q: %v", st[0].Params, err)
	}
	return ts
}

// pattern returns n bytes that identify (seed, offset) and start at an odd
// memory address, so that the bounce-buffer path is used.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n+1)[1:]
	for i := range b {
		b[i] = seed ^ byte(i*7) ^ byte(i>>9)
	}
	return b
}

func wantErr(t *testing.T, err error, kind error, errno error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v (%v)", kind, errno)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %v: want kind %v", err, kind)
	}
	if errno != nil && !errors.Is(err, errno) {
		t.Errorf("error %v: want errno %v", err, errno)
	}
	var e *dm.Error
	if !errors.As(err, &e) {
		t.Errorf("error %v is not a *dm.Error", err)
	}
}
