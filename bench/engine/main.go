package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("engine", flag.ContinueOnError)
	dir := fs.String("dir", "", "scratch directory on a disk (default: a temporary directory next to the repository)")
	out := fs.String("out", "", "write the JSON results here (default: <repo>/bench/results/engine.json)")
	mib := fs.Int64("mib", 256, "device size in MiB (sequential patterns cover all of it)")
	ops := fs.Int("rand-ops", 16384, "4 KiB random operations per random pattern")
	reps := fs.Int("reps", 11, "repetitions of every pattern (median reported)")
	seed := fs.Int64("seed", 1, "seed of the data and the random offsets")
	zero := fs.Bool("zero", true, "pool zeroes new blocks (the kernel's default; false = skip_block_zeroing)")
	cache := fs.String("cache", "both", "page cache before each timed pattern: cold (dropped on both sides), warm (left as the previous flushed pattern left it), or both (a full run of each)")
	prov := fs.String("provision", provWritten, "how both sides' backing files are created: sparse (truncate), fallocate, or written (zeros, like a device whose blocks all exist)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run here (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := params{
		DeviceBytes: *mib << 20, BlockBytes: 64 << 10, RandOps: *ops, RandIOBytes: 4 << 10, SeqIOBytes: 1 << 20,
		Reps: *reps, Seed: *seed, ZeroNew: *zero, Provision: *prov, FlushInTimed: true,
		Method: "one process, one disk: buffered pwrite/pread on both sides (no O_DIRECT), queue depth 1; " +
			"writes timed with their final fdatasync (plain) / Flush (thin: fdatasync + metadata commit); " +
			"cold: both sides' files flushed and dropped from the page cache (posix_fadvise DONTNEED) before every timed pattern; " +
			"warm: page cache left as the previous, flushed, pattern left it",
	}
	var modes []string
	switch *cache {
	case "cold", "warm":
		modes = []string{*cache}
	case "both":
		modes = []string{"warm", "cold"}
	default:
		return fmt.Errorf("-cache must be cold, warm or both, not %q", *cache)
	}
	if !validProvision(p.Provision) {
		return fmt.Errorf("-provision must be sparse, fallocate or written, not %q", p.Provision)
	}
	if p.DeviceBytes <= 0 || p.DeviceBytes%p.SeqIOBytes != 0 || p.RandOps <= 0 || p.Reps <= 0 {
		return errors.New("need -mib >= 1, -rand-ops >= 1, -reps >= 1")
	}
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(repo, "bench", "results", "engine.json")
	}
	if *dir == "" {
		d, err := os.MkdirTemp(filepath.Dir(repo), ".thinraft-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	fsType, err := checkNotTmpfs(*dir)
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	var results []modeResults
	for _, m := range modes {
		fmt.Fprintf(os.Stderr, "cache %s:\n", m)
		res, err := bench(ctx, *dir, p, m, os.Stderr)
		if err != nil {
			return fmt.Errorf("cache %s: %w", m, err)
		}
		results = append(results, modeResults{cache: m, res: res})
	}
	rep := newReport(p, results, fsType, time.Since(start))
	if err := rep.write(*out); err != nil {
		return err
	}
	rep.printTable(os.Stdout)
	fmt.Printf("wrote %s (%.0f s)\n", *out, time.Since(start).Seconds())
	return nil
}

// repoRoot finds the module root from the working directory.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("not inside the thinraft repository (no go.mod above the working directory)")
		}
		d = parent
	}
}
