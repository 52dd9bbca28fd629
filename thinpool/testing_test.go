package thinpool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/dmtest"
)

// Shared helpers of the crash and reconcile tests: a pool's backing devices
// and record on a dmtest.Env, opened as often as successive processes would.

// The engine flag is shared with the other test files of this package;
// whichever file registers it first wins.
func init() {
	if flag.Lookup("thinpool.engine") == nil {
		flag.String("thinpool.engine", dmtest.Emu, "dm engine for thinpool tests: emu (userspace) or kernel (inside the VM: make vmtest)")
	}
}

// testEngine is the value of -thinpool.engine.
func testEngine() string { return flag.Lookup("thinpool.engine").Value.String() }

// poolRig is one pool's backing devices and file record on an Env. Its
// fields are plain data, so a child process can rebuild it (crash tests).
type poolRig struct {
	Cfg        Config
	Meta, Data dmtest.Backing
	RecordPath string
}

// newPoolRig makes backing devices of the given sizes for a pool named
// name on env, with cfg's other settings.
func newPoolRig(t testing.TB, env *dmtest.Env, cfg Config, metaSize, dataSize int64) *poolRig {
	t.Helper()
	meta, err := env.CreateBacking(cfg.Name+".meta", metaSize)
	if err != nil {
		t.Fatal(err)
	}
	data, err := env.CreateBacking(cfg.Name+".data", dataSize)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MetadataDev, cfg.DataDev = meta.Ref, data.Ref
	// Registered after the Env's own cleanup, so it runs first: a test
	// that stopped half-way leaves no device behind on the kernel.
	t.Cleanup(func() { removeLeftovers(env, cfg.Name) })
	return &poolRig{Cfg: cfg, Meta: meta, Data: data, RecordPath: filepath.Join(env.Dir(), cfg.Name+".record.json")}
}

// removeLeftovers removes the pool's devices (thins first) if a test left
// them; errors are ignored, this is best effort after a failure.
func removeLeftovers(env *dmtest.Env, pool string) {
	ctl, err := env.Reopen()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := DMPrefix + pool
	devs, err := ctl.List(ctx)
	if err != nil {
		return
	}
	for _, d := range devs {
		if strings.HasPrefix(d.Name, name+"-") {
			_ = ctl.Resume(ctx, d.Name)
			_ = ctl.Remove(ctx, d.Name, dm.RemoveOptions{Retries: 5})
		}
	}
	if _, err := ctl.Info(ctx, name); err == nil {
		_ = ctl.Resume(ctx, name)
		_ = ctl.Remove(ctx, name, dm.RemoveOptions{Retries: 5})
	}
}

// grower grows the rig's backing files, refreshing loop devices on the kernel.
func (r *poolRig) grower(env *dmtest.Env) FileGrower {
	return FileGrower{
		Files:   map[string]string{r.Meta.Ref: r.Meta.Path, r.Data.Ref: r.Data.Path},
		Refresh: env.Refresh,
	}
}

func (r *poolRig) record() (*FileRecord, error) { return NewFileRecord(r.RecordPath, r.Cfg.Name) }

// open opens (activates and reconciles) the pool on env's current control.
func (r *poolRig) open(ctx context.Context, env *dmtest.Env, fp *Failpoints) (*Pool, error) {
	rec, err := r.record()
	if err != nil {
		return nil, err
	}
	return Open(ctx, r.Cfg, Options{Control: env.Control(), Record: rec, Grower: r.grower(env), Failpoints: fp})
}

func (r *poolRig) mustOpen(t testing.TB, ctx context.Context, env *dmtest.Env) *Pool {
	t.Helper()
	p, err := r.open(ctx, env, nil)
	if err != nil {
		t.Fatalf("open pool %s: %v", r.Cfg.Name, err)
	}
	return p
}

// teardown deactivates the pool and checks its metadata with the thin
// tools (thin_check on the kernel, the XML oracle on the engine).
func (r *poolRig) teardown(ctx context.Context, env *dmtest.Env, p *Pool) error {
	if err := p.Deactivate(ctx); err != nil {
		return err
	}
	if err := env.CheckMetadata(ctx, r.Meta); err != nil {
		return fmt.Errorf("metadata check: %w", err)
	}
	return nil
}

// volumeImage is the expected content of a thin volume: a test keeps one
// per volume and applies every acknowledged write to it.
type volumeImage []byte

// fill writes a pattern unique to (seed, offset) into img[off:off+n] and
// returns the bytes.
func (img volumeImage) fill(seed uint32, off, n int64) []byte {
	b := img[off : off+n]
	var word [8]byte
	for i := int64(0); i < n; i += 8 {
		binary.LittleEndian.PutUint64(word[:], uint64(seed)<<40^uint64(off+i)*0x9e3779b97f4a7c15)
		copy(b[i:], word[:])
	}
	return b
}

func (img volumeImage) sum() string { return fmt.Sprintf("%x", sha256.Sum256(img)) }

// writeVolume writes the pattern of seed at off (n bytes) to dev and to img.
func writeVolume(dev dm.BlockDevice, img volumeImage, seed uint32, off, n int64) error {
	if _, err := dev.WriteAt(img.fill(seed, off, n), off); err != nil {
		return fmt.Errorf("write %d bytes at %d: %w", n, off, err)
	}
	return nil
}

// checkVolume reads thin id whole and compares it with want.
func checkVolume(ctx context.Context, p *Pool, id uint32, want volumeImage) error {
	dev, err := p.OpenThin(ctx, id)
	if err != nil {
		return err
	}
	defer dev.Close()
	if dev.Size() != int64(len(want)) {
		return fmt.Errorf("thin %d: size %d, want %d", id, dev.Size(), len(want))
	}
	got := make([]byte, len(want))
	if _, err := dev.ReadAt(got, 0); err != nil {
		return fmt.Errorf("thin %d: read: %w", id, err)
	}
	if !bytes.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				return fmt.Errorf("thin %d: content differs from the acknowledged writes at byte %d (sha256 %x, want %s)", id, i, sha256.Sum256(got), want.sum())
			}
		}
	}
	return nil
}

// saveImage / loadImage keep images on disk for a child process and its
// parent; saveImage fsyncs, as an acknowledgement must be durable.
func saveImage(path string, img volumeImage) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(img); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadImage(path string) (volumeImage, error) { return os.ReadFile(path) }

// kernelThinIDs returns the thin ids in a fresh metadata snapshot.
func kernelThinIDs(ctx context.Context, p *Pool) (map[uint32]bool, error) {
	ids := map[uint32]bool{}
	err := p.withMetadata(ctx, true, func(d *dm.MetadataDump) error {
		for _, dev := range d.Devices {
			ids[dev.ID] = true
		}
		return nil
	})
	return ids, err
}
