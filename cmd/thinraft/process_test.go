package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/cluster/node"
	"github.com/thinraft/thinraft/cluster/pki"
	"github.com/thinraft/thinraft/dm/emu"
	"github.com/thinraft/thinraft/metadata"
)

// proc is one `thinraft agent` process.
type proc struct {
	id   string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// procCluster is a loopback cluster of real processes made by
// `thinraft cluster init`.
type procCluster struct {
	t     *testing.T
	bin   string
	dir   string
	token string
	ca    *x509.CertPool
	apis  map[string]string

	mu    sync.Mutex
	procs map[string]*proc
}

// freeBase finds a base port with the 3n ports above it free (cluster
// init's layout: Raft, API, NBD per node). Another
// process may take one before the agents bind it; the test then fails
// loudly at start rather than flaking later.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		// Below the kernel's default ephemeral port range (32768 and
		// up), so outgoing connections of parallel tests cannot take them.
		base := 20000 + portsPerNode*rand.IntN(4000)
		var lns []net.Listener
		ok := true
		for i := range portsPerNode * n {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			_ = ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// procOptions vary a procCluster; the zero value is the userspace engine.
type procOptions struct {
	// engine is the nodes' dm engine ("" = cluster init's default, emu).
	engine string
	// timing overrides the nodes' Raft timing ("" = cluster init's
	// "loopback"; "lan" for the vmtest guest, where TCG makes TLS
	// handshakes and heartbeats slow enough for loopback timing to flap).
	timing string
}

// newProcCluster starts n `thinraft agent` processes. The binary is this
// test binary re-executing itself as the thinraft command (selfexec_test.go),
// so the same harness runs where there is no Go toolchain (the vmtest guest).
func newProcCluster(t *testing.T, n int, opts ...procOptions) *procCluster {
	t.Helper()
	var o procOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	tmp := t.TempDir()
	bin := selfBinary(t)
	dir := filepath.Join(tmp, "cluster")
	base := freeBase(t, n)
	initArgs := []string{"cluster", "init", "--nodes", strconv.Itoa(n), "--dir", dir, "--base-port", strconv.Itoa(base)}
	if o.engine != "" {
		initArgs = append(initArgs, "--engine", o.engine)
	}
	out, err := thinraftCommand(bin, initArgs...).CombinedOutput()
	if err != nil {
		t.Fatalf("cluster init: %v\n%s", err, out)
	}
	enableFaultFiles(t, dir, n)
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := pki.ParseCertPEM(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	if o.timing != "" {
		for i := 1; i <= n; i++ {
			path := filepath.Join(dir, fmt.Sprintf("n%d.json", i))
			cfg, err := node.LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Timing = o.timing
			if err := node.WriteConfig(path, cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := &procCluster{t: t, bin: bin, dir: dir, token: strings.TrimSpace(string(tok)), ca: pool,
		apis: map[string]string{}, procs: map[string]*proc{}}
	for i := 1; i <= n; i++ {
		c.apis[fmt.Sprintf("n%d", i)] = "127.0.0.1:" + strconv.Itoa(base+portsPerNode*(i-1)+1)
	}
	t.Cleanup(func() {
		// Whatever the test did, no process outlives it.
		for _, id := range c.running() {
			c.kill(id)
		}
		if t.Failed() {
			for id := range c.apis {
				b, _ := os.ReadFile(c.logPath(id))
				t.Logf("log of %s (last 4 KiB):\n%s", id, tail(b, 4096))
			}
		}
	})
	for i := 1; i <= n; i++ {
		c.start(fmt.Sprintf("n%d", i))
	}
	return c
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (c *procCluster) logPath(id string) string { return filepath.Join(c.dir, id+".log") }

func (c *procCluster) start(id string) {
	c.t.Helper()
	lf, err := os.OpenFile(c.logPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := thinraftCommand(c.bin, "agent", "--config", filepath.Join(c.dir, id+".json"))
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p := &proc{id: id, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = lf.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs[id] = p
	c.mu.Unlock()
}

func (c *procCluster) running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.procs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (c *procCluster) take(id string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.procs[id]
	delete(c.procs, id)
	return p
}

// kill sends SIGKILL and reaps the process.
func (c *procCluster) kill(id string) {
	p := c.take(id)
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM and requires a clean exit within the grace period.
// A node that hangs gets SIGQUIT, so the Go runtime writes every
// goroutine's stack to its log, and the test fails with that dump.
func (c *procCluster) stop(id string) {
	c.t.Helper()
	p := c.take(id)
	if p == nil {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Errorf("SIGTERM %s: %v", id, err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			c.t.Errorf("%s exited after SIGTERM: %v", id, p.err)
		}
	case <-time.After(20 * time.Second):
		c.dumpHung(id, p)
	}
	if err := syscall.Kill(p.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		c.t.Errorf("%s (pid %d) still exists after exit: %v", id, p.cmd.Process.Pid, err)
	}
}

func (c *procCluster) client(ids ...string) *client.Client {
	c.t.Helper()
	var eps []string
	for _, id := range ids {
		eps = append(eps, c.apis[id])
	}
	cl, err := client.New(client.Config{Endpoints: eps, Token: c.token, CA: c.ca, RetryTimeout: 20 * time.Second, RequestTimeout: 20 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// leader waits until the answering node knows a leader and every member
// has registered its API address.
func (c *procCluster) leader(ctx context.Context, cl *client.Client, members int) string {
	c.t.Helper()
	for {
		info, err := cl.Cluster(ctx)
		if err == nil && info.LeaderID != "" && len(info.Members) >= members {
			registered := 0
			for _, m := range info.Members {
				if m.APIAddr != "" {
					registered++
				}
			}
			if registered >= members {
				return info.LeaderID
			}
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("no leader with %d registered members: %v (last error %v)", members, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestProcessCluster runs three `thinraft agent` processes: writes through
// a follower, kill -9 of the leader, writes through the client while it
// is down, restart, and a check that the record and the userspace
// kernel's metadata agree.
func TestProcessCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three processes")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	c := newProcCluster(t, 3)
	all := c.client("n1", "n2", "n3")
	lead := c.leader(ctx, all, 3)
	var follower string
	for _, id := range []string{"n1", "n2", "n3"} {
		if id != lead {
			follower = id
			break
		}
	}
	t.Logf("leader %s, writing through follower %s", lead, follower)
	f := c.client(follower)
	wait := client.Wait(15 * time.Second)

	if _, err := f.CreateVG(ctx, api.VGCreateRequest{Name: "vg1"}); err != nil {
		t.Fatalf("create vg: %v", err)
	}
	pool, err := f.CreatePool(ctx, "vg1", api.PoolCreateRequest{Name: "pool1", Node: "n1", ChunkSectors: 128,
		DataBytes: 256 << 20, MetaBytes: 8 << 20})
	if err != nil {
		t.Fatalf("create pool: %v", err)
	}
	done := func(what string, r *api.VolumeResponse, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r.Operation == nil || r.Operation.State != api.OpDone {
			t.Fatalf("%s: operation not done after wait: %+v", what, r.Operation)
		}
	}
	r, err := f.CreateVolume(ctx, "vg1", api.VolumeCreateRequest{Name: "v1", Pool: "pool1", SizeBytes: 64 << 20}, wait)
	done("create v1 via follower", r, err)
	r, err = f.CreateSnapshot(ctx, "vg1", "v1", api.SnapshotCreateRequest{Name: "s1"}, wait)
	done("snapshot s1 via follower", r, err)

	// kill -9 the leader; the client follows the new one.
	t.Logf("kill -9 %s", lead)
	c.kill(lead)
	var ops []string
	for _, req := range []api.VolumeCreateRequest{{Name: "v2", Pool: "pool1", SizeBytes: 32 << 20}, {Name: "v3", Pool: "pool1", SizeBytes: 32 << 20}} {
		r, err := all.CreateVolume(ctx, "vg1", req)
		if err != nil {
			t.Fatalf("create %s with the leader dead: %v", req.Name, err)
		}
		ops = append(ops, r.Operation.ID)
	}
	r, err = all.CreateSnapshot(ctx, "vg1", "v2", api.SnapshotCreateRequest{Name: "s2"})
	if err != nil {
		t.Fatalf("snapshot s2 with the leader dead: %v", err)
	}
	ops = append(ops, r.Operation.ID)

	t.Logf("restart %s", lead)
	c.start(lead)
	for _, id := range ops {
		if _, err := all.WaitOperation(ctx, id); err != nil {
			t.Fatalf("operation %s: %v", id, err)
		}
	}
	// The restarted node serves reads again (as a follower or leader).
	back := c.client(lead)
	c.leader(ctx, back, 3)

	// The pool's own node dies with work queued for it (if the leader
	// was not that node already): the operation waits for its restart.
	if lead != "n1" {
		r, err := all.CreateVolume(ctx, "vg1", api.VolumeCreateRequest{Name: "v4", Pool: "pool1", SizeBytes: 16 << 20})
		if err != nil {
			t.Fatalf("create v4: %v", err)
		}
		t.Log("kill -9 n1 (the pool's node)")
		c.kill("n1")
		c.start("n1")
		if _, err := all.WaitOperation(ctx, r.Operation.ID); err != nil {
			t.Fatalf("operation %s after n1's restart: %v", r.Operation.ID, err)
		}
	} else {
		r, err := all.CreateVolume(ctx, "vg1", api.VolumeCreateRequest{Name: "v4", Pool: "pool1", SizeBytes: 16 << 20}, wait)
		done("create v4", r, err)
	}

	list, err := back.Volumes(ctx, "vg1", client.ListOptions{})
	if err != nil {
		t.Fatalf("list volumes: %v", err)
	}
	var names []string
	for _, v := range list.Volumes {
		names = append(names, v.Name)
		if v.State != metadata.VolumeActive || v.ThinID == 0 {
			t.Errorf("volume %s: state %s thin id %d, want active with a thin device", v.Name, v.State, v.ThinID)
		}
	}
	slices.Sort(names)
	if want := []string{"s1", "s2", "v1", "v2", "v3", "v4"}; !slices.Equal(names, want) {
		t.Fatalf("volumes %v, want %v", names, want)
	}
	pv, err := back.Pool(ctx, "vg1", "pool1")
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	if pv.State != metadata.PoolActive || len(pv.Findings) > 0 {
		t.Fatalf("pool %s state %s findings %+v: want active and explained", pv.Name, pv.State, pv.Findings)
	}

	for _, id := range c.running() {
		c.stop(id)
	}
	// The kernel side: the pool's on-disk metadata (the userspace
	// engine's, readable once its node has stopped) holds the record's
	// transaction id.
	meta := filepath.Join(c.dir, "n1", "data", "pools", pool.UUID+".meta")
	d, err := emu.DumpMetadata(meta, false)
	if err != nil {
		t.Fatalf("dump %s: %v", meta, err)
	}
	if d.Transaction != pv.TxnID || pv.TxnID == 0 {
		t.Fatalf("kernel transaction %d, record %d", d.Transaction, pv.TxnID)
	}
	if len(d.Devices) != len(names) {
		t.Errorf("kernel has %d thin devices, record %d", len(d.Devices), len(names))
	}
	t.Logf("txn %d in record and kernel, %d thins; took %v", pv.TxnID, len(d.Devices), time.Since(start).Round(time.Millisecond))
}
