package thinpool

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/thinraft/thinraft/dm"
	tp "github.com/thinraft/thinraft/thinpool"
)

// Params sizes one run.
type Params struct {
	// N is the number of creates, snapshots and deletes each.
	N int
	// LVMN is the number of LVM commands of each kind (they are ~300 ms
	// each under emulation).
	LVMN int
	// ChunkSectors is the pool chunk size of both sides.
	ChunkSectors uint64
}

// measureThinraft times N creates, N snapshots of the created thins and 2N
// deletes through the transaction protocol on pool p. Nothing is activated,
// on either side (LVM runs with -an): activation is a separate operation in
// thinraft and costs the same dm ioctls for both.
func measureThinraft(ctx context.Context, p *tp.Pool, n int) ([]Rate, error) {
	const size = 2 * 1024 * 1024 // 1 GiB in sectors
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := p.CreateThin(ctx, uint32(i), size); err != nil {
			return nil, fmt.Errorf("create %d: %w", i, err)
		}
	}
	create := newRate("create", n, time.Since(start))
	start = time.Now()
	for i := 0; i < n; i++ {
		if err := p.Snapshot(ctx, uint32(n+i), uint32(i)); err != nil {
			return nil, fmt.Errorf("snapshot %d: %w", i, err)
		}
	}
	snap := newRate("snapshot", n, time.Since(start))
	start = time.Now()
	for i := 0; i < 2*n; i++ {
		if err := p.Delete(ctx, uint32(i)); err != nil {
			return nil, fmt.Errorf("delete %d: %w", i, err)
		}
	}
	del := newRate("delete", 2*n, time.Since(start))
	return []Rate{create, snap, del}, nil
}

// openPool opens a fresh pool on ctl over the given backing devices with a
// file record in dir.
func openPool(ctx context.Context, ctl dm.Control, gr tp.Grower, dir, meta, data string, chunk uint64) (*tp.Pool, error) {
	rec, err := tp.NewFileRecord(filepath.Join(dir, "record.json"), "bench")
	if err != nil {
		return nil, err
	}
	cfg := tp.Config{Name: "bench", MetadataDev: meta, DataDev: data, ChunkSectors: chunk, SkipZeroing: true}
	return tp.Open(ctx, cfg, tp.Options{Control: ctl, Record: rec, Grower: gr})
}

func sparseFile(path string, size int64) error {
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return err
	}
	return os.Truncate(path, size)
}

// lvm runs LVM commands with a private config (the host root is read-only
// in the VM and there is no udev).
type lvm struct {
	env []string
}

func newLVM(dir string) (*lvm, error) {
	sys := filepath.Join(dir, "lvm")
	if err := os.MkdirAll(sys, 0o755); err != nil {
		return nil, err
	}
	conf := `devices { obtain_device_list_from_udev = 0 external_device_info_source = "none" }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
global { event_activation = 0 use_lvmlockd = 0 }
backup { backup = 0 archive = 0 }
`
	if err := os.WriteFile(filepath.Join(sys, "lvm.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return &lvm{env: append(os.Environ(), "LVM_SYSTEM_DIR="+sys, "DM_DISABLE_UDEV=1", "LVM_SUPPRESS_FD_WARNINGS=1")}, nil
}

func (l *lvm) run(args ...string) error {
	cmd := exec.Command("lvm", args...)
	cmd.Env = l.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("lvm %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// measureLVM times LVM's thin create, thin snapshot and remove on a thin pool
// with the same chunk size on pv (a block device).
func measureLVM(dir, pv string, n int, chunk uint64) ([]Rate, error) {
	l, err := newLVM(dir)
	if err != nil {
		return nil, err
	}
	chunkArg := fmt.Sprintf("%ds", chunk)
	steps := [][]string{
		{"pvcreate", "-ff", "-y", pv},
		{"vgcreate", "benchvg", pv},
		{"lvcreate", "-L", "700M", "--poolmetadatasize", "64M", "--chunksize", chunkArg, "-Zn", "-T", "benchvg/pool"},
	}
	for _, s := range steps {
		if err := l.run(s...); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := l.run("lvcreate", "-an", "-V", "1G", "-T", "benchvg/pool", "-n", fmt.Sprintf("t%d", i)); err != nil {
			return nil, err
		}
	}
	create := newRate("create", n, time.Since(start))
	start = time.Now()
	for i := 0; i < n; i++ {
		if err := l.run("lvcreate", "-an", "-s", fmt.Sprintf("benchvg/t%d", i), "-n", fmt.Sprintf("s%d", i)); err != nil {
			return nil, err
		}
	}
	snap := newRate("snapshot", n, time.Since(start))
	start = time.Now()
	for i := 0; i < n; i++ {
		for _, lv := range []string{"s", "t"} {
			if err := l.run("lvremove", "-f", fmt.Sprintf("benchvg/%s%d", lv, i)); err != nil {
				return nil, err
			}
		}
	}
	del := newRate("delete", 2*n, time.Since(start))
	if err := l.run("vgremove", "-f", "benchvg"); err != nil {
		return nil, err
	}
	return []Rate{create, snap, del}, nil
}
