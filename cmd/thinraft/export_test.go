package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
)

const nbdClientsInstall = "apt-get install -y --no-install-recommends qemu-utils libnbd-bin"

// requireNBDClients fails (never skips) when a real NBD client is missing.
func requireNBDClients(t *testing.T) {
	t.Helper()
	for _, c := range []string{"qemu-io", "nbdinfo", "nbdcopy"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s is missing; install the NBD clients with: %s", c, nbdClientsInstall)
		}
	}
}

// nbdRun runs an NBD client with a deadline and returns its output; a
// failure, or qemu-io reporting one, fails the test.
func nbdRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := nbdTry(name, args...)
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return out
}

func nbdTry(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	out := string(b)
	if err == nil && (strings.Contains(out, "Pattern verification failed") || strings.Contains(out, "failed")) {
		err = errors.New("the client reported a failure")
	}
	return out, err
}

// holder is a qemu-io session left waiting for commands on stdin: a real
// client holding an export open until release.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

func holdExport(t *testing.T, uri string) *holder {
	t.Helper()
	cmd := exec.Command("qemu-io", "-f", "raw", uri)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	go func() { h.done <- cmd.Wait() }()
	t.Cleanup(func() { h.release(t) })
	return h
}

// release ends the session (qemu-io exits at the end of its input).
func (h *holder) release(t *testing.T) {
	if h.stdin == nil {
		return
	}
	_ = h.stdin.Close()
	h.stdin = nil
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
		t.Error("qemu-io holding an export did not exit at the end of its input")
	}
}

// waitVolume polls the volume until cond holds.
func waitVolume(ctx context.Context, t *testing.T, cl *client.Client, what string, cond func(open, active bool) bool) {
	t.Helper()
	for {
		v, err := cl.Volume(ctx, "vg1", "lv1")
		if err == nil && cond(v.Open, v.Active) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last %+v, %v)", what, ctx.Err(), v, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestNBDExport: three `thinraft agent` processes; a volume on n2's pool
// is read and written over NBD by qemu-io, nbdcopy and nbdinfo at the
// address GET .../export names; it grows under them; deactivation and
// deletion are refused while a client holds it and deactivation works
// after; and after kill -9 and restart of n2 the export comes back with
// its data (and the stale open flag is cleared).
func TestNBDExport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three processes")
	}
	requireNBDClients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()
	c := newProcCluster(t, 3)
	cl := c.client("n1", "n2", "n3")
	c.leader(ctx, cl, 3)
	wait := client.Wait(15 * time.Second)
	if _, err := cl.CreateVG(ctx, api.VGCreateRequest{Name: "vg1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreatePool(ctx, "vg1", api.PoolCreateRequest{Name: "pool1", Node: "n2", ChunkSectors: 128,
		DataBytes: 256 << 20, MetaBytes: 8 << 20, Discards: "passdown"}); err != nil {
		t.Fatal(err)
	}
	if r, err := cl.CreateVolume(ctx, "vg1", api.VolumeCreateRequest{Name: "lv1", Pool: "pool1", SizeBytes: 64 << 20}, wait); err != nil || r.Operation == nil || r.Operation.State != api.OpDone {
		t.Fatalf("create lv1: %+v %v", r, err)
	}
	info, err := cl.Export(ctx, "vg1", "lv1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Node != "n2" || info.Export != "vg1/lv1" || info.URI != "nbd://"+info.Address+"/vg1/lv1" || !info.Active || info.Open {
		t.Fatalf("export info %+v", info)
	}
	uri := info.URI
	t.Logf("export %s", uri)

	// A client held open from here on keeps the open count above zero
	// while the others come and go.
	h := holdExport(t, uri)
	nbdRun(t, "qemu-io", "-f", "raw", "-c", "write -P 0xa5 1M 2M", "-c", "write -P 0x3c 60M 1M", uri)
	nbdRun(t, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0xa5 1M 2M", "-c", "read -P 0 0 1M", "-c", "read -P 0x3c 60M 1M", uri)
	if out := nbdRun(t, "nbdinfo", "--size", uri); strings.TrimSpace(out) != fmt.Sprint(64<<20) {
		t.Fatalf("nbdinfo --size: %q", out)
	}
	// A whole copy through a second client sees the same bytes.
	copyFile := t.TempDir() + "/lv1.raw"
	nbdRun(t, "nbdcopy", uri, copyFile)
	nbdRun(t, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0xa5 1M 2M", "-c", "read -P 0x3c 60M 1M", copyFile)

	// Growth: a new connection sees the new size, and its new tail.
	size := uint64(96 << 20)
	if _, err := cl.PatchVolume(ctx, "vg1", "lv1", api.VolumePatchRequest{SizeBytes: &size}); err != nil {
		t.Fatal(err)
	}
	for {
		out, err := nbdTry("nbdinfo", "--size", uri)
		if err == nil && strings.TrimSpace(out) == fmt.Sprint(size) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("nbdinfo never saw %d bytes: %q %v", size, out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	nbdRun(t, "qemu-io", "-f", "raw", "-c", "write -P 0x77 95M 1M", "-c", "read -P 0x77 95M 1M", "-c", "read -P 0xa5 1M 2M", uri)

	waitVolume(ctx, t, cl, "the record to say open", func(open, _ bool) bool { return open })
	if _, err := cl.SetActive(ctx, "vg1", "lv1", false); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("deactivate while open: %v, want conflict", err)
	}
	if _, err := cl.DeleteVolume(ctx, "vg1", "lv1"); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("delete while open: %v, want conflict", err)
	}
	h.release(t)
	waitVolume(ctx, t, cl, "the record to say closed", func(open, _ bool) bool { return !open })
	if v, err := cl.SetActive(ctx, "vg1", "lv1", false); err != nil || v.Active {
		t.Fatalf("deactivate after the client left: %+v %v", v, err)
	}
	var ce *client.Error
	if _, err := cl.Export(ctx, "vg1", "lv1"); !errors.As(err, &ce) || ce.Status != 409 || !strings.Contains(ce.Message, "thinraft lvchange -ay vg1/lv1") {
		t.Fatalf("export info of an inactive volume: %v", err)
	}
	for {
		// The agent retires the export promptly, not instantly.
		if _, err := nbdTry("nbdinfo", "--size", uri); err != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the deactivated volume is still served")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Active again; then n2 dies with a client attached and comes back.
	if _, err := cl.SetActive(ctx, "vg1", "lv1", true); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := nbdTry("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x77 95M 1M", uri); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the reactivated volume is not served")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitVolume(ctx, t, cl, "the record to say closed after the read", func(open, _ bool) bool { return !open })
	h2 := holdExport(t, uri)
	waitVolume(ctx, t, cl, "the record to say open before the crash", func(open, _ bool) bool { return open })
	t.Log("kill -9 n2")
	c.kill("n2")
	h2.release(t)
	c.start("n2")
	// No client has connected since the restart, so every report of the
	// new process says closed: the flag the dead one left is cleared.
	waitVolume(ctx, t, cl, "the stale open flag to clear", func(open, _ bool) bool { return !open })
	for {
		out, err := nbdTry("qemu-io", "-f", "raw", "-r", "-c", "read -P 0xa5 1M 2M", "-c", "read -P 0x77 95M 1M", uri)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the export did not come back after n2's restart: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The reads above opened and closed connections of their own: let the
	// record settle closed first, so the open seen next can only be h3's
	// (otherwise a read's late "open" could be taken for it, and h3's own
	// connection could land after the "closed" the test waits for).
	waitVolume(ctx, t, cl, "the record to say closed after the reads", func(open, _ bool) bool { return !open })
	// Open while held, then the first closed report after release is
	// final: the delete goes through.
	h3 := holdExport(t, uri)
	waitVolume(ctx, t, cl, "the record to say open after the restart", func(open, _ bool) bool { return open })
	h3.release(t)
	waitVolume(ctx, t, cl, "the record to say closed after the restart", func(open, _ bool) bool { return !open })
	if r, err := cl.DeleteVolume(ctx, "vg1", "lv1", wait); err != nil || (r.Operation != nil && r.Operation.State != api.OpDone) {
		t.Fatalf("delete after restart: %+v %v", r, err)
	}
	c.stop("n1")
	c.stop("n2")
	c.stop("n3")
}
