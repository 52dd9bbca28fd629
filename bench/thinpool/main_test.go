package thinpool

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/dm/emu"
	"github.com/thinraft/thinraft/dm/kernel"
	tp "github.com/thinraft/thinraft/thinpool"
)

var (
	mode       = flag.String("bench.mode", "", "engine: measure on the userspace engine and write -bench.out; kernel: measure thinraft and LVM on the running kernel and print the JSON line")
	out        = flag.String("bench.out", "", "results file (engine mode)")
	kernelJSON = flag.String("bench.kernel-json", "", "kernel-mode output to merge into the results (engine mode)")
	nOps       = flag.Int("bench.n", 200, "creates, snapshots and deletes each for thinraft")
	lvmN       = flag.Int("bench.lvm-n", 20, "creates, snapshots and removes each for LVM")
	nbdMiB     = flag.Int64("bench.nbd-mib", 128, "volume size of the NBD throughput patterns, MiB")
)

// marker prefixes the kernel half's JSON line on the VM console.
const marker = "THINPOOL_BENCH_JSON "

func TestMain(m *testing.M) {
	flag.Parse()
	switch *mode {
	case "":
		os.Exit(m.Run())
	case "engine":
		os.Exit(report(runEngine))
	case "kernel":
		os.Exit(report(runKernel))
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown -bench.mode %q (engine or kernel)\n", *mode)
		os.Exit(2)
	}
}

func report(run func(context.Context, string) error) int {
	dir, err := os.MkdirTemp(benchDir(), "thinpool-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// benchDir is where the engine's backing files go: next to the repository
// (a real disk), not tmpfs; in the VM the guest's /tmp.
func benchDir() string {
	if *mode == "kernel" {
		return os.TempDir()
	}
	return ".."
}

func runEngine(ctx context.Context, dir string) error {
	e, err := emu.New(emu.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer e.Close()
	meta, data := filepath.Join(dir, "meta"), filepath.Join(dir, "data")
	if err := sparseFile(meta, 64<<20); err != nil {
		return err
	}
	if err := sparseFile(data, 1<<30); err != nil {
		return err
	}
	p, err := openPool(ctx, e, tp.FileGrower{}, dir, meta, data, 128)
	if err != nil {
		return err
	}
	rates, err := measureThinraft(ctx, p, *nOps)
	if err != nil {
		return err
	}
	nbdRes, err := measureNBD(ctx, p, dir, *nbdMiB<<20, 8192, 3)
	if err != nil {
		return err
	}
	r := newReport()
	r.Engine = &Side{Engine: "emu", Rates: rates}
	r.NBD = nbdRes
	if *kernelJSON != "" {
		b, err := os.ReadFile(*kernelJSON)
		if err != nil {
			return fmt.Errorf("kernel results: %w (run the VM half first: make bench-thinpool)", err)
		}
		var k Report
		if err := json.Unmarshal(b, &k); err != nil {
			return fmt.Errorf("kernel results %s: %w", *kernelJSON, err)
		}
		r.Kernel, r.LVM = k.Kernel, k.LVM
	}
	r.computeRatios()
	fmt.Print(r.table())
	if *out == "" {
		return nil
	}
	return writeJSON(*out, r)
}

func runKernel(ctx context.Context, dir string) error {
	ctl, err := kernel.Open()
	if err != nil {
		return err
	}
	defer ctl.Close()
	files := map[string]int64{"meta": 64 << 20, "data": 1 << 30, "pv": 1 << 30}
	loops := map[string]string{}
	for name, size := range files {
		f := filepath.Join(dir, name)
		if err := sparseFile(f, size); err != nil {
			return err
		}
		dev, err := kernel.AttachLoop(f)
		if err != nil {
			return err
		}
		defer kernel.DetachLoop(dev)
		loops[name] = dev
	}
	gr := tp.FileGrower{Files: map[string]string{loops["meta"]: filepath.Join(dir, "meta"), loops["data"]: filepath.Join(dir, "data")}, Refresh: kernel.RefreshLoop}
	p, err := openPool(ctx, ctl, gr, dir, loops["meta"], loops["data"], 128)
	if err != nil {
		return err
	}
	rates, err := measureThinraft(ctx, p, *nOps)
	if err != nil {
		return err
	}
	ps, err := p.Status(ctx)
	if err != nil {
		return err
	}
	raw, err := measureRaw(ctx, ctl, p.DMName(), 50, 1<<20, ps.TransactionID)
	if err != nil {
		return err
	}
	rates = append(rates, raw...)
	if err := p.Deactivate(ctx); err != nil {
		return err
	}
	lvmRates, err := measureLVM(dir, loops["pv"], *lvmN, 128)
	if err != nil {
		return err
	}
	kver, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	r := newReport()
	r.Kernel = &Side{Engine: "kernel", Kernel: strings.TrimSpace(string(kver)), Rates: rates}
	r.LVM = &Side{Engine: "lvm", Kernel: strings.TrimSpace(string(kver)), Rates: lvmRates}
	r.computeRatios()
	fmt.Print(r.table())
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Printf("%s%s\n", marker, b)
	return nil
}

// TestRatios checks the ratio arithmetic the results file reports.
func TestRatios(t *testing.T) {
	r := newReport()
	r.Kernel = &Side{Engine: "kernel", Rates: []Rate{{Op: "create", PerSec: 400}, {Op: "delete", PerSec: 100}}}
	r.LVM = &Side{Engine: "lvm", Rates: []Rate{{Op: "create", PerSec: 4}, {Op: "delete", PerSec: 4}, {Op: "snapshot", PerSec: 3}}}
	r.computeRatios()
	if len(r.Ratios) != 2 {
		t.Fatalf("ratios %+v: want create and delete only (no kernel snapshot rate)", r.Ratios)
	}
	if c := r.Ratios[0]; c.Op != "create" || c.Ratio != 100 || !c.Met {
		t.Errorf("create ratio %+v, want 100x met", c)
	}
	if d := r.Ratios[1]; d.Op != "delete" || d.Ratio != 25 || d.Met {
		t.Errorf("delete ratio %+v, want 25x not met", d)
	}
}
