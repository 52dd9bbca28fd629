package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The patterns in the order one repetition runs them. The cow patterns
// run on the device the fresh sequential patterns filled, after a
// snapshot of it.
var patternNames = []string{
	"fresh/rand-write-4k", "fresh/seq-write-1m", "fresh/seq-read-1m", "fresh/rand-read-4k",
	"cow/rand-write-4k", "cow/seq-write-1m",
}

// sideResults are one pattern's timings on both sides, one per repetition.
type sideResults struct {
	Plain, Thin []timing
}

// modeResults are the timings of one cache mode.
type modeResults struct {
	cache string
	res   map[string]*sideResults
}

// bench runs p.Reps repetitions with the given cache mode (cold or warm)
// and returns the timings by pattern.
func bench(ctx context.Context, dir string, p params, cache string, log io.Writer) (map[string]*sideResults, error) {
	c := newContent(p)
	res := map[string]*sideResults{}
	for _, n := range patternNames {
		res[n] = &sideResults{}
	}
	for r := 0; r < p.Reps; r++ {
		fmt.Fprintf(log, "repetition %d/%d\n", r+1, p.Reps)
		if err := oneRep(ctx, filepath.Join(dir, fmt.Sprintf("rep%d", r)), p, cache, c, r, res); err != nil {
			return nil, fmt.Errorf("repetition %d: %w", r+1, err)
		}
	}
	return res, nil
}

// side is one half of a repetition: the two devices a pattern set uses
// (a: random writes on a fresh device; b: filled sequentially, read,
// snapshotted and overwritten) and what happens at the snapshot points.
type side struct {
	name     string
	a, b     dev
	snapshot func() error
}

func oneRep(ctx context.Context, dir string, p params, cache string, c *content, rep int, res map[string]*sideResults) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); err == nil {
			err = rerr
		}
	}()
	pl, err := newPool(ctx, dir, 4*p.DeviceBytes+(16<<20), 64<<20, uint64(p.BlockBytes/512), p.ZeroNew, p.Provision)
	if err != nil {
		return err
	}
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			if cerr := closers[i](); err == nil {
				err = cerr
			}
		}
		if cerr := pl.close(); err == nil {
			err = cerr
		}
	}()

	plain := &side{name: "plain", snapshot: func() error { return nil }}
	if plain.a, err = newPlainDev(filepath.Join(dir, "plain-a"), p.DeviceBytes, p.Provision); err != nil {
		return err
	}
	closers = append(closers, plain.a.Close)
	if plain.b, err = newPlainDev(filepath.Join(dir, "plain-b"), p.DeviceBytes, p.Provision); err != nil {
		return err
	}
	closers = append(closers, plain.b.Close)

	thin := &side{name: "thin"}
	ta, err := pl.newThin(p.DeviceBytes)
	if err != nil {
		return err
	}
	thin.a = ta
	closers = append(closers, ta.Close)
	tb, err := pl.newThin(p.DeviceBytes)
	if err != nil {
		return err
	}
	thin.b = tb
	closers = append(closers, tb.Close)
	var snaps []uint32
	thin.snapshot = func() error {
		id, err := tb.snapshot()
		if err == nil {
			snaps = append(snaps, id)
		}
		return err
	}

	// Alternate which side goes first, so that neither always runs on a
	// disk the other has just made busy.
	sides := []*side{plain, thin}
	if rep%2 == 1 {
		sides = []*side{thin, plain}
	}
	randIO, seqIO := p.RandIOBytes, p.SeqIOBytes
	afterCowRand := image(c.fresh, c.cow, c.randOffs, randIO)
	steps := []struct {
		name string
		pre  func(s *side) error
		run  func(s *side) (timing, error)
	}{
		{"fresh/rand-write-4k", nil, func(s *side) (timing, error) { return randWrite(s.a, c.fresh, c.randOffs, randIO) }},
		{"fresh/seq-write-1m", nil, func(s *side) (timing, error) { return seqWrite(s.b, c.fresh, seqIO) }},
		{"fresh/seq-read-1m", nil, func(s *side) (timing, error) { return seqRead(s.b, c.fresh, seqIO) }},
		{"fresh/rand-read-4k", nil, func(s *side) (timing, error) { return randRead(s.b, c.fresh, c.randOffs, randIO) }},
		{"cow/rand-write-4k", func(s *side) error { return s.snapshot() },
			func(s *side) (timing, error) { return randWrite(s.b, c.cow, c.randOffs, randIO) }},
		{"cow/seq-write-1m", func(s *side) error { return s.snapshot() },
			func(s *side) (timing, error) { return seqWrite(s.b, c.cow, seqIO) }},
	}
	for _, st := range steps {
		for _, s := range sides {
			if st.pre != nil {
				if err := st.pre(s); err != nil {
					return fmt.Errorf("%s before %s: %w", s.name, st.name, err)
				}
			}
			if cache == "cold" {
				dropSide(s)
			}
			t, err := st.run(s)
			if err != nil {
				return fmt.Errorf("%s %s: %w", s.name, st.name, err)
			}
			if s == plain {
				res[st.name].Plain = append(res[st.name].Plain, t)
			} else {
				res[st.name].Thin = append(res[st.name].Thin, t)
			}
		}
	}

	// Untimed checks that the thin side did what it was timed doing: the
	// first snapshot still holds the fresh data, the second the data after
	// the random copy-on-write phase, and the random-write device reads
	// back what was written.
	if len(snaps) != 2 {
		return fmt.Errorf("took %d snapshots, want 2", len(snaps))
	}
	for i, want := range [][]byte{c.fresh, afterCowRand} {
		sd, err := pl.activate(snaps[i], p.DeviceBytes)
		if err != nil {
			return err
		}
		_, verr := seqRead(sd, want, seqIO)
		if cerr := sd.Close(); verr == nil {
			verr = cerr
		}
		if verr != nil {
			return fmt.Errorf("snapshot %d: %w", i+1, verr)
		}
	}
	for _, s := range sides {
		if _, err := randRead(s.a, c.fresh, c.randOffs, randIO); err != nil {
			return fmt.Errorf("%s random-write device: %w", s.name, err)
		}
	}
	return nil
}

// dropSide flushes and evicts both devices of a side from the page cache.
// Errors are ignored: fadvise is advice, and a failed flush will show in
// the timed pattern that follows.
func dropSide(s *side) {
	_ = s.a.dropCache()
	_ = s.b.dropCache()
}
