package thinpool

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sort"
	"time"

	"github.com/thinraft/thinraft/thinpool/nbd"

	tp "github.com/thinraft/thinraft/thinpool"
)

// ioTarget is what the NBD bench drives: the device directly, or the NBD
// client in front of the same kind of volume.
type ioTarget interface {
	io.ReaderAt
	io.WriterAt
}

// nbdPatterns are the NBD throughput patterns: name, IO size, sequential.
var nbdPatterns = []struct {
	name string
	size int
	seq  bool
}{
	{"seq-write-1m", 1 << 20, true},
	{"seq-read-1m", 1 << 20, true},
	{"rand-write-4k", 4 << 10, false},
	{"rand-read-4k", 4 << 10, false},
}

// runPattern does one pattern over [0, volBytes) and returns MiB/s. Random
// patterns do ops IOs at offsets from seed; sequential ones cover the volume.
func runPattern(t ioTarget, write, seq bool, size int, volBytes int64, ops int, seed uint64) (float64, error) {
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	n := ops
	if seq {
		n = int(volBytes / int64(size))
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		off := int64(i) * int64(size)
		if !seq {
			off = r.Int64N(volBytes/int64(size)) * int64(size)
		}
		var err error
		if write {
			_, err = t.WriteAt(buf, off)
		} else {
			_, err = t.ReadAt(buf, off)
		}
		if err != nil {
			return 0, err
		}
	}
	d := time.Since(start).Seconds()
	return float64(n) * float64(size) / (1 << 20) / d, nil
}

// measureNBD compares each pattern through the NBD server (one client, one
// request in flight, over a unix socket) with the same pattern straight on
// the thin device, on fresh volumes of the same pool for the write passes.
func measureNBD(ctx context.Context, p *tp.Pool, dir string, volBytes int64, ops, reps int) ([]NBDResult, error) {
	results := map[string][2][]float64{} // pattern -> [direct, nbd] samples
	next := uint32(1000)
	for rep := 0; rep < reps; rep++ {
		for side := 0; side < 2; side++ {
			s := (side + rep) % 2 // alternate who goes first
			id := next
			next++
			if err := p.CreateThin(ctx, id, uint64(volBytes/512)); err != nil {
				return nil, err
			}
			var target ioTarget
			var done func() error
			if s == 0 {
				dev, err := p.OpenThin(ctx, id)
				if err != nil {
					return nil, err
				}
				target, done = dev, dev.Close
			} else {
				t, stop, err := serveNBD(ctx, p, id, filepath.Join(dir, fmt.Sprintf("nbd-%d.sock", id)))
				if err != nil {
					return nil, err
				}
				target, done = t, stop
			}
			for _, pat := range nbdPatterns {
				write := pat.name[:len("seq-write")] == "seq-write" || pat.name[:len("rand-wri")] == "rand-wri"
				mibs, err := runPattern(target, write, pat.seq, pat.size, volBytes, ops, uint64(rep+1))
				if err != nil {
					done()
					return nil, fmt.Errorf("%s %s: %w", []string{"direct", "nbd"}[s], pat.name, err)
				}
				v := results[pat.name]
				v[s] = append(v[s], mibs)
				results[pat.name] = v
			}
			if err := done(); err != nil {
				return nil, err
			}
			if err := p.Delete(ctx, id); err != nil {
				return nil, err
			}
		}
	}
	var out []NBDResult
	for _, pat := range nbdPatterns {
		v := results[pat.name]
		d, n := median(v[0]), median(v[1])
		out = append(out, NBDResult{Pattern: pat.name, DirectMiBs: d, NBDMiBs: n, Ratio: n / d,
			Description: fmt.Sprintf("%d-byte IOs, one request in flight, unix socket, median of %d", pat.size, reps)})
	}
	return out, nil
}

func serveNBD(ctx context.Context, p *tp.Pool, id uint32, sock string) (ioTarget, func() error, error) {
	exp, err := nbd.ThinExport(ctx, p, id, "vol")
	if err != nil {
		return nil, nil, err
	}
	srv, err := nbd.NewServer(exp, nbd.Options{})
	if err != nil {
		exp.Close()
		return nil, nil, err
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		exp.Close()
		return nil, nil, err
	}
	go srv.Serve(l)
	c, err := dialNBD(sock, "vol")
	if err != nil {
		srv.Close()
		exp.Close()
		return nil, nil, err
	}
	stop := func() error {
		c.Close()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if cerr := exp.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return c, stop, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
