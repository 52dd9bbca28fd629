package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cli"
	"github.com/thinraft/thinraft/metadata"
)

// run runs `thinraft args...` against the cluster with its client.json and
// returns the exit code and the output. The command is killed when ctx
// ends: a hung cluster must not hold a test until go test's own timeout.
func (c *procCluster) run(ctx context.Context, args ...string) (int, string, string) {
	c.t.Helper()
	cmd := thinraftCommand(c.bin, args...)
	cmd.Env = append(cmd.Env, cli.EnvConfig+"="+filepath.Join(c.dir, "client.json"))
	cmd.Stdin = strings.NewReader("")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("thinraft %q: %v", args, err)
	}
	stopper := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	stopper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	c.t.Fatalf("thinraft %q: %v", args, err)
	return 0, "", ""
}

// must runs a command that must succeed.
func (c *procCluster) must(ctx context.Context, args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(ctx, args...)
	if code != 0 {
		c.t.Fatalf("thinraft %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// TestNBDPutGetBackup: data written with `thinraft nbd put` reads back with
// `nbd get` (from another offset too), a snapshot keeps the old data, and
// `vgcfgbackup` saves metadata that restores with the volumes in it.
func TestNBDPutGetBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three agent processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newProcCluster(t, 3)
	c.leader(ctx, c.client("n1", "n2", "n3"), 3)
	dir := t.TempDir()
	c.must(ctx, "vgcreate", "vg0")
	c.must(ctx, "lvcreate", "--type", "thin-pool", "-L", "256M", "-n", "pool0", "--node", "n2", "vg0")
	c.must(ctx, "lvcreate", "-V", "64M", "-T", "vg0/pool0", "-n", "thin1")

	data := make([]byte, 5<<20+777)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	in := filepath.Join(dir, "in.img")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := c.must(ctx, "nbd", "put", "vg0/thin1", in, "--offset", "1m"); !strings.Contains(out, "vg0/thin1") || !strings.Contains(out, "/s)") {
		t.Fatalf("put summary: %q", out)
	}
	c.must(ctx, "lvcreate", "-s", "vg0/thin1", "-n", "snap1")
	c.must(ctx, "lvchange", "-ay", "-K", "vg0/snap1")
	zeros := filepath.Join(dir, "zeros.img")
	if err := os.WriteFile(zeros, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	c.must(ctx, "nbd", "put", "vg0/thin1", zeros, "--offset", "1m")

	get := func(lv, off string, n int) []byte {
		t.Helper()
		out := filepath.Join(dir, strings.ReplaceAll(lv, "/", "_")+off+".out")
		c.must(ctx, "nbd", "get", lv, out, "--offset", off, "--length", strconv.Itoa(n))
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := get("vg0/snap1", "1m", len(data)); !bytes.Equal(got, data) {
		t.Fatal("the snapshot does not hold the data written before it")
	}
	got := get("vg0/thin1", "1m", len(data))
	if !bytes.Equal(got[:1<<20], make([]byte, 1<<20)) || !bytes.Equal(got[1<<20:], data[1<<20:]) {
		t.Fatal("thin1 does not hold the rewrite over the old data")
	}
	if code, _, errs := c.run(ctx, "nbd", "put", "vg0/thin1", in, "--offset", "63m"); code != cli.ExitFailed || !strings.Contains(errs, "lvextend") {
		t.Fatalf("put past the end: exit %d %q", code, errs)
	}

	backup := filepath.Join(dir, "vg0.backup")
	c.must(ctx, "vgcfgbackup", "-f", backup, "vg0")
	f, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fsm := metadata.New(metadata.Options{})
	if err := fsm.Restore(io.NopCloser(f)); err != nil {
		t.Fatalf("the backup does not restore: %v", err)
	}
	for _, name := range []string{"thin1", "snap1"} {
		if _, ok := fsm.VolumeByName("vg0", name); !ok {
			t.Errorf("the backup lacks vg0/%s", name)
		}
	}
}
