package agent

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool/nbd"
)

// serveExports runs an NBD server on the agent's exports on a unix socket
// until the test ends, and returns the socket path.
func serveExports(t *testing.T, a *Agent) string {
	t.Helper()
	d, err := os.MkdirTemp("", "agent-nbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	sock := filepath.Join(d, "nbd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := nbd.NewSourceServer(a.Exports(), nbd.Options{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return sock
}

// holdOpen negotiates NBD_OPT_GO for export on sock and keeps the
// connection in transmission until the returned func closes it. It
// returns the final option reply type (1 = ACK; errors have bit 31 set).
func holdOpen(t *testing.T, sock, export string) (uint32, func()) {
	t.Helper()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(nc)
	greet := make([]byte, 18)
	if _, err := io.ReadFull(br, greet); err != nil {
		t.Fatal(err)
	}
	msg := binary.BigEndian.AppendUint32(nil, 3) // fixed newstyle, no zeroes
	msg = binary.BigEndian.AppendUint64(msg, 0x49484156454F5054)
	msg = binary.BigEndian.AppendUint32(msg, 7) // NBD_OPT_GO
	data := binary.BigEndian.AppendUint32(nil, uint32(len(export)))
	data = append(data, export...)
	data = binary.BigEndian.AppendUint16(data, 0)
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(data)))
	msg = append(msg, data...)
	if _, err := nc.Write(msg); err != nil {
		t.Fatal(err)
	}
	for {
		h := make([]byte, 20)
		if _, err := io.ReadFull(br, h); err != nil {
			t.Fatal(err)
		}
		typ := binary.BigEndian.Uint32(h[12:])
		if _, err := io.CopyN(io.Discard, br, int64(binary.BigEndian.Uint32(h[16:]))); err != nil {
			t.Fatal(err)
		}
		if typ == 1 || typ&(1<<31) != 0 {
			nc.SetDeadline(time.Time{})
			return typ, func() { nc.Close() }
		}
	}
}

// qemuIO runs qemu-io commands against an NBD URI (read-only when the
// first is "-r").
func qemuIO(t *testing.T, uri string, cmds ...string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Fatal("qemu-io is missing; install it with: apt-get install -y --no-install-recommends qemu-utils")
	}
	args := []string{"-f", "raw"}
	if len(cmds) > 0 && cmds[0] == "-r" {
		args, cmds = append(args, "-r"), cmds[1:]
	}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "qemu-io", append(args, uri)...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "Pattern verification failed") || strings.Contains(string(out), "failed") {
		t.Fatalf("qemu-io %q: %v\n%s", cmds, err, out)
	}
	return string(out)
}

// waitOpen waits until the record's Open of vol is want.
func waitOpen(t *testing.T, c *testCluster, vol string, want bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, _ := c.fsm().Volume(vol)
		if v.Open == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume %s: record says open=%v after 20s, want %v", v.Name, v.Open, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func proposeErr(c *testCluster, typ metadata.CommandType, payload any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := propose(ctx, c.fsm(), c, time.Now(), typ, payload)
	return err
}

// TestActivationExports: an active volume is served as vg/name and by
// uuid; a client holding it open is reported promptly (the report
// interval is an hour here) and blocks deactivation and deletion; after
// the client leaves, deactivation removes the device and the export; an
// activation-skipped volume is served once activated.
func TestActivationExports(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "pool0", 64*mib, 16*mib)
	r := newAgentRig(t, c, 0, func(cfg *Config) { cfg.ReportInterval = time.Hour })
	r.start()
	a := c.createVolume("a", pool, 8*mib)
	bID := newUUID(t)
	c.do(metadata.CmdVolumeCreate, metadata.VolumeCreate{UUID: bID, VG: testVG, Name: "b", Pool: pool, SizeBytes: 4 * mib, ActivationSkip: true})
	r.waitDrained(pool, 20*time.Second)
	sock := serveExports(t, r.a)
	if names := r.a.Exports().Names(); !slices.Equal(names, []string{"vg0/a"}) {
		t.Fatalf("exports %q, want only vg0/a (b skips activation)", names)
	}

	// One connection is held throughout, so the open count never drops to
	// zero while qemu-io comes and goes: every report after the first
	// says open.
	typ, closeA := holdOpen(t, sock, "vg0/a")
	if typ != 1 {
		t.Fatalf("GO vg0/a: reply %#x", typ)
	}
	uri := nbd.UnixURI(sock, "vg0/a")
	qemuIO(t, uri, "write -P 0x5a 4096 65536")
	qemuIO(t, nbd.UnixURI(sock, a), "read -P 0x5a 4096 65536", "read -P 0 0 4096")
	waitOpen(t, c, a, true)
	ref := metadata.VolumeRef{UUID: a}
	if err := proposeErr(c, metadata.CmdVolumeSetActive, metadata.VolumeSetActive{Volume: ref, Active: false}); metadata.CodeOf(err) != metadata.CodeConflict {
		t.Fatalf("deactivate while open: %v, want conflict", err)
	}
	if err := proposeErr(c, metadata.CmdVolumeDelete, metadata.VolumeDelete{Volume: ref}); metadata.CodeOf(err) != metadata.CodeConflict {
		t.Fatalf("delete while open: %v, want conflict", err)
	}
	closeA()
	waitOpen(t, c, a, false)
	c.do(metadata.CmdVolumeSetActive, metadata.VolumeSetActive{Volume: ref, Active: false})
	vol, _ := c.fsm().Volume(a)
	name := r.a.pool(pool).pool.ThinDMName(vol.ThinID)
	waitFor(t, "the deactivated volume's device to go", func() bool {
		_, err := r.eng.Info(context.Background(), name)
		return errors.Is(err, dm.ErrDeviceNotFound)
	})
	if typ, done := holdOpen(t, sock, "vg0/a"); typ != 0x80000006 { // NBD_REP_ERR_UNKNOWN
		t.Fatalf("GO of a deactivated volume: reply %#x", typ)
	} else {
		done()
	}

	c.do(metadata.CmdVolumeSetActive, metadata.VolumeSetActive{Volume: metadata.VolumeRef{UUID: bID}, Active: true})
	waitFor(t, "b to be exported", func() bool { return slices.Equal(r.a.Exports().Names(), []string{"vg0/b"}) })
	typ, closeB := holdOpen(t, sock, bID)
	if typ != 1 {
		t.Fatalf("GO b by uuid: reply %#x", typ)
	}
	qemuIO(t, nbd.UnixURI(sock, "vg0/b"), "write -P 0x33 0 4096", "read -P 0x33 0 4096")
	// Open is reported after every change; once it has said open while b
	// was held, the first report that says closed is final.
	waitOpen(t, c, bID, true)
	closeB()
	waitOpen(t, c, bID, false)

	// Deleting an exported volume nobody has open retires its export
	// first, so the delete never finds the device busy.
	c.do(metadata.CmdVolumeDelete, metadata.VolumeDelete{Volume: metadata.VolumeRef{UUID: bID}})
	r.waitDrained(pool, 20*time.Second)
	if _, ok := c.fsm().Volume(bID); ok {
		t.Fatal("b survived its delete")
	}
	r.checkKernel(pool)
}

// TestActivationFollowsRecord: an export sees an extension on its next
// connection, a revert's content, and a read-only flip re-exports the
// volume read-only.
func TestActivationFollowsRecord(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "pool0", 64*mib, 16*mib)
	r := newAgentRig(t, c, 0, nil)
	r.start()
	a := c.createVolume("a", pool, 4*mib)
	r.waitDrained(pool, 20*time.Second)
	sock := serveExports(t, r.a)
	uri := nbd.UnixURI(sock, "vg0/a")
	qemuIO(t, uri, "write -P 0x11 0 4096")

	c.do(metadata.CmdVolumeExtend, metadata.VolumeExtend{Volume: metadata.VolumeRef{UUID: a}, SizeBytes: 12 * mib})
	waitFor(t, "the extension to reach the device", func() bool {
		out, err := exec.Command("qemu-io", "-f", "raw", "-c", "length", uri).CombinedOutput()
		return err == nil && strings.Contains(string(out), "12 MiB")
	})
	qemuIO(t, uri, fmt.Sprintf("write -P 0x22 %d 4096", 12*mib-4096), fmt.Sprintf("read -P 0x22 %d 4096", 12*mib-4096), "read -P 0x11 0 4096")

	// A revert gives the volume another thin id: the export is retired
	// before the revert's intents run (its delete would find the device
	// busy otherwise) and the next client gets the snapshot's content.
	snap := c.snapshot(a, "a-snap")
	r.waitDrained(pool, 20*time.Second)
	qemuIO(t, uri, "write -P 0x44 0 4096")
	c.do(metadata.CmdVolumeRevert, metadata.VolumeRevert{Volume: metadata.VolumeRef{UUID: a}, Snapshot: metadata.VolumeRef{UUID: snap}})
	r.waitDrained(pool, 20*time.Second)
	if v, _ := c.fsm().Volume(a); v.State != metadata.VolumeActive {
		t.Fatalf("after the revert: %+v", v)
	}
	qemuIO(t, uri, "read -P 0x11 0 4096", fmt.Sprintf("read -P 0x22 %d 4096", 12*mib-4096))
	r.checkKernel(pool)

	c.do(metadata.CmdVolumeSetReadOnly, metadata.VolumeSetReadOnly{Volume: metadata.VolumeRef{UUID: a}, ReadOnly: true})
	waitFor(t, "a read-only export", func() bool {
		out, _ := exec.Command("qemu-io", "-f", "raw", "-c", "write 0 512", uri).CombinedOutput()
		return strings.Contains(string(out), "ermission") || strings.Contains(string(out), "read-only") || strings.Contains(string(out), "read only")
	})
	qemuIO(t, uri, "-r", "read -P 0x11 0 4096")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
