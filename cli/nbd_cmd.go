package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/thinraft/thinraft/internal/nbdclient"
	ucli "github.com/urfave/cli/v3"
)

// `thinraft nbd put|get`: copy a file into or out of an active volume over
// NBD, from any machine that reaches the volume's node. On a host with the
// kernel's nbd driver `nbd-client` or qemu-nbd give a block device instead;
// these commands need nothing but thinraft (the demo and tests use them).

// nbdChunk is how much one request moves.
const nbdChunk = nbdclient.MaxRequest

func (a *app) nbdCmd() *ucli.Command {
	offset := &ucli.StringFlag{Name: "offset", Value: "0", Usage: "byte offset in the volume (k/m/g/t suffixes are binary)"}
	return &ucli.Command{
		Name:  "nbd",
		Usage: "copy data into or out of an active volume over NBD",
		Commands: []*ucli.Command{{
			Name:      "put",
			Usage:     "write FILE into VG/LV at --offset",
			ArgsUsage: "VG/LV FILE",
			Flags:     []ucli.Flag{offset},
			Action:    func(ctx context.Context, cmd *ucli.Command) error { return a.nbdCopy(ctx, cmd, true) },
		}, {
			Name:      "get",
			Usage:     "read VG/LV from --offset into FILE (--length bytes, default to the end)",
			ArgsUsage: "VG/LV FILE",
			Flags:     []ucli.Flag{offset, &ucli.StringFlag{Name: "length", Usage: "bytes to read (default: to the end of the volume)"}},
			Action:    func(ctx context.Context, cmd *ucli.Command) error { return a.nbdCopy(ctx, cmd, false) },
		}},
		Action: needSub,
	}
}

// parseBytes reads a byte count: digits with an optional binary suffix.
func parseBytes(flag, s string) (uint64, error) {
	s = strings.TrimSpace(s)
	unit := uint64(1)
	if n := len(s); n > 0 && (s[n-1] < '0' || s[n-1] > '9') {
		u, ok := unitBytes(s[n-1])
		if !ok {
			return 0, usagef("--%s %q: want bytes, optionally with a k|m|g|t suffix (binary)", flag, s)
		}
		unit, s = u, s[:n-1]
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > (1<<63)/unit {
		return 0, usagef("--%s %q: want bytes, optionally with a k|m|g|t suffix (binary)", flag, s)
	}
	return v * unit, nil
}

func (a *app) nbdCopy(ctx context.Context, cmd *ucli.Command, put bool) error {
	if cmd.Args().Len() != 2 {
		return usagef("nbd %s takes VG/LV and FILE; e.g. thinraft nbd %s vg0/lv1 data.img", cmd.Name, cmd.Name)
	}
	ref := parseRef(cmd.Args().Get(0))
	if ref.VG == "" {
		return usagef("%q: name the volume as VG/LV", cmd.Args().Get(0))
	}
	off, err := parseBytes("offset", cmd.String("offset"))
	if err != nil {
		return err
	}
	var length *uint64
	if l := cmd.String("length"); !put && l != "" {
		n, err := parseBytes("length", l)
		if err != nil {
			return err
		}
		length = &n
	}
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	info, err := cl.Export(ctx, ref.VG, ref.LV)
	if err != nil {
		return apiErr("volume "+ref.String(), err)
	}
	nc, err := nbdclient.Dial(ctx, info.Address, info.Export)
	if err != nil {
		return failf("%v", err)
	}
	defer nc.Close()
	path := cmd.Args().Get(1)
	size := nc.Size()
	if off > size {
		return usagef("--offset %d is beyond %s's %d bytes", off, ref, size)
	}
	var n uint64
	if put {
		f, err := os.Open(path)
		if err != nil {
			return failf("%v", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return failf("%v", err)
		}
		n = uint64(fi.Size())
		if off+n > size {
			return failf("%s is %d bytes; at offset %d it does not fit in %s (%d bytes): lvextend it first", path, n, off, ref, size)
		}
		err = a.pump(ref.String(), n, func(buf []byte, at uint64) error {
			if _, err := io.ReadFull(f, buf); err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
			_, err := nc.WriteAt(buf, int64(off+at))
			return err
		})
		if err == nil {
			err = nc.Flush()
		}
		if err != nil {
			return failf("nbd put %s: %v", ref, err)
		}
	} else {
		n = size - off
		if length != nil {
			if n = *length; off+n > size {
				return usagef("--offset %d --length %d runs past %s's %d bytes", off, n, ref, size)
			}
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return failf("%v", err)
		}
		err = a.pump(ref.String(), n, func(buf []byte, at uint64) error {
			if _, err := nc.ReadAt(buf, int64(off+at)); err != nil {
				return err
			}
			_, err := f.Write(buf)
			return err
		})
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return failf("nbd get %s: %v", ref, err)
		}
	}
	return nil
}

// pump moves total bytes in chunks through step, showing progress on a
// terminal and a summary with the rate at the end.
func (a *app) pump(what string, total uint64, step func(buf []byte, at uint64) error) error {
	start := time.Now()
	var done atomic.Uint64
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if !a.env.Terminal {
			return
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(a.env.Stderr, "\r\033[K")
				return
			case <-t.C:
				d := done.Load()
				fmt.Fprintf(a.env.Stderr, "\r  %s: %s of %s (%s/s)\033[K", what, human(d), human(total), human(rate(d, time.Since(start))))
			}
		}
	}()
	buf := make([]byte, nbdChunk)
	var err error
	for at := uint64(0); at < total; at += uint64(len(buf)) {
		buf = buf[:min(uint64(nbdChunk), total-at)]
		if err = step(buf, at); err != nil {
			break
		}
		done.Store(at + uint64(len(buf)))
	}
	close(stop)
	<-stopped
	if err != nil {
		return err
	}
	el := time.Since(start)
	a.printf("  %s: %s in %.2f s (%s/s).\n", what, human(total), el.Seconds(), human(rate(total, el)))
	return nil
}

func rate(b uint64, d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(float64(b) / d.Seconds())
}
