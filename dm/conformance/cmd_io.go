package conformance

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/thinraft/thinraft/dm"
)

// IO commands. Offsets and lengths follow the size rules (bare numbers are
// sectors). Data is `pattern=NAME` or `zero`.
//
// A pattern's bytes depend on its name and on the offset modulo 64 KiB:
// every chunk size is a multiple of 64 KiB, so a pattern planted on a data
// device below the pool (fill-backing) reads back identically through any
// thin block it ends up in, while a write landing at the wrong offset
// inside a block, or a block read from a different pattern, is caught.

const patternPeriod = 64 << 10

// patternBytes returns n bytes of pattern name starting at offset off.
func patternBytes(name string, off int64, n int) []byte {
	h := fnv.New64a()
	h.Write([]byte(name))
	seed := h.Sum64()
	out := make([]byte, n)
	for i := 0; i < n; {
		o := off + int64(i)
		word := uint64(o%patternPeriod) / 8
		v := splitmix(seed + word*0x9E3779B97F4A7C15)
		for b := o % 8; b < 8 && i < n; b++ {
			out[i] = byte(v >> (8 * b))
			i++
		}
	}
	return out
}

func splitmix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// dataArg turns pattern=NAME or zero into bytes at off.
func (r *runner) dataArg(arg string, off int64, n int) ([]byte, error) {
	if arg == "zero" {
		return make([]byte, n), nil
	}
	if name, ok := strings.CutPrefix(arg, "pattern="); ok && name != "" {
		r.mu.Lock()
		r.patterns[name] = true
		r.mu.Unlock()
		return patternBytes(name, off, n), nil
	}
	return nil, fmt.Errorf("want pattern=NAME or zero, got %q", arg)
}

func offLen(o, l string) (int64, int, error) {
	off, err := ParseSize(o)
	if err != nil {
		return 0, 0, err
	}
	n, err := ParseSize(l)
	if err != nil {
		return 0, 0, err
	}
	if n > 256<<20 {
		return 0, 0, fmt.Errorf("IO of %d bytes is over the 256 MiB a case may move at once", n)
	}
	return off, int(n), nil
}

// withDev runs fn on the device: its held handle (open), or a fresh one
// closed afterwards. fresh forces a fresh handle (background jobs).
func (r *runner) withDev(name string, fresh bool, fn func(dm.BlockDevice) error) error {
	if !fresh {
		if bd, ok := r.open[name]; ok {
			return fn(bd)
		}
	}
	ctx, cancel := r.ctx()
	defer cancel()
	bd, err := r.ctl.Open(ctx, r.dmName(name))
	if err != nil {
		return op(err)
	}
	ferr := fn(bd)
	if cerr := bd.Close(); cerr != nil && ferr == nil {
		return fmt.Errorf("close %s: %w", name, cerr)
	}
	return ferr
}

// write NAME OFF LEN DATA
func cmdWrite(r *runner, c Cmd) error { return r.write(c, false) }

func (r *runner) write(c Cmd, fresh bool) error {
	off, n, err := offLen(c.Args[1], c.Args[2])
	if err != nil {
		return err
	}
	data, err := r.dataArg(c.Args[3], off, n)
	if err != nil {
		return err
	}
	return r.withDev(c.Args[0], fresh, func(bd dm.BlockDevice) error {
		w, err := bd.WriteAt(data, off)
		if err != nil {
			return op(err)
		}
		if w != n {
			return fmt.Errorf("short write: %d of %d bytes", w, n)
		}
		return nil
	})
}

// read NAME OFF LEN DATA
func cmdRead(r *runner, c Cmd) error { return r.read(c, false) }

func (r *runner) read(c Cmd, fresh bool) error {
	off, n, err := offLen(c.Args[1], c.Args[2])
	if err != nil {
		return err
	}
	want, err := r.dataArg(c.Args[3], off, n)
	if err != nil {
		return err
	}
	return r.withDev(c.Args[0], fresh, func(bd dm.BlockDevice) error {
		got := make([]byte, n)
		m, err := bd.ReadAt(got, off)
		if err != nil {
			return op(err)
		}
		if m != n {
			return fmt.Errorf("short read: %d of %d bytes", m, n)
		}
		if !bytes.Equal(got, want) {
			return r.describeMismatch(got, want, off)
		}
		return nil
	})
}

// describeMismatch says where the data first differs and what the wrong
// bytes look like (zeros, or another pattern of this case).
func (r *runner) describeMismatch(got, want []byte, off int64) error {
	i := 0
	for i < len(got) && got[i] == want[i] {
		i++
	}
	at := off + int64(i)
	end := i + 512 - int(at%512)
	if end > len(got) {
		end = len(got)
	}
	sector := got[i:end]
	what := "unknown bytes"
	if bytes.Equal(sector, make([]byte, len(sector))) {
		what = "zeros"
	} else {
		var names []string
		r.mu.Lock()
		for n := range r.patterns {
			names = append(names, n)
		}
		r.mu.Unlock()
		sort.Strings(names)
		for _, n := range names {
			if bytes.Equal(sector, patternBytes(n, at, len(sector))) {
				what = "pattern " + n
				break
			}
		}
	}
	return fmt.Errorf("data differs at byte %d (sector %d): found %s", at, at/512, what)
}

// discard NAME OFF LEN
func cmdDiscard(r *runner, c Cmd) error { return r.discard(c, false) }

func (r *runner) discard(c Cmd, fresh bool) error {
	off, n, err := offLen(c.Args[1], c.Args[2])
	if err != nil {
		return err
	}
	return r.withDev(c.Args[0], fresh, func(bd dm.BlockDevice) error {
		return op(bd.Discard(off, int64(n)))
	})
}

// flush NAME
func cmdFlush(r *runner, c Cmd) error { return r.flush(c, false) }

func (r *runner) flush(c Cmd, fresh bool) error {
	return r.withDev(c.Args[0], fresh, func(bd dm.BlockDevice) error {
		return op(bd.Flush())
	})
}

func checkIOArgs(withData bool) func(Cmd) error {
	return func(c Cmd) error {
		for _, a := range c.Args[1:3] {
			if strings.Contains(a, "{") {
				continue
			}
			if _, err := ParseSize(a); err != nil {
				return err
			}
		}
		if withData {
			d := c.Args[3]
			if d != "zero" && (!strings.HasPrefix(d, "pattern=") || len(d) == len("pattern=")) {
				return fmt.Errorf("want pattern=NAME or zero, got %q", d)
			}
		}
		return nil
	}
}
