package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
	mib := fs.Int64("mib", 128, "device size in MiB (sequential patterns cover all of it)")
	ops := fs.Int("rand-ops", 4096, "4 KiB random operations per random pattern")
	reps := fs.Int("reps", 5, "repetitions of every pattern (median reported)")
	seed := fs.Int64("seed", 1, "seed of the data and the random offsets")
	zero := fs.Bool("zero", true, "pool zeroes new blocks (the kernel's default; false = skip_block_zeroing)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := params{
		DeviceBytes: *mib << 20, BlockBytes: 64 << 10, RandOps: *ops, RandIOBytes: 4 << 10, SeqIOBytes: 1 << 20,
		Reps: *reps, Seed: *seed, ZeroNew: *zero, FlushInTimed: true,
		CachePolicy: "buffered pwrite/pread on both sides; writes timed with their final fdatasync/Flush; " +
			"page cache of both sides' files dropped (fdatasync + posix_fadvise DONTNEED) before every timed pattern",
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
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := bench(ctx, *dir, p, os.Stderr)
	if err != nil {
		return err
	}
	rep := newReport(p, res, fsType, time.Since(start))
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
