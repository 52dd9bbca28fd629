package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/agent"
	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

var clusterEngine = flag.String("cluster.engine", engineEmu,
	"TestClusterKernelScenario: the nodes' dm engine, emu or kernel (kernel: root with device-mapper, i.e. in the VM: make vmtest-cluster)")

const (
	mib      = 1 << 20
	chunk    = 128 // sectors: 64 KiB pool blocks
	ioBlock  = 64 << 10
	scenVG   = "vg1"
	volBytes = 16 * mib
)

// scenario is one run of TestClusterKernelScenario.
type scenario struct {
	t      *testing.T
	ctx    context.Context
	c      *procCluster
	cl     *client.Client
	engine string
}

// TestClusterKernelScenario runs the 3-node cluster end to end on one
// engine (-cluster.engine; kernel inside `make vmtest`, emu on the host):
// two pools on the two followers; volumes and a snapshot; data written
// through the thin device (O_DIRECT on the kernel) before and after the
// snapshot, the snapshot reading the old data; the leader killed with
// SIGKILL while creates are queued and restarted; then a follower pool
// node killed with SIGKILL while creates and deletes stream in on its pool
// (on the kernel, aimed at the gap between a batch's kernel commit and
// its completion: scenario_kill_test.go), restarted to adopt its devices,
// roll forward and drain the queue; at the end every volume
// active, the pools explained, the record's transaction id the kernel's
// (status line), the kernel's thin ids exactly the record's, and on the
// kernel thin_check clean after the devices are torn down.
func TestClusterKernelScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three agent processes")
	}
	engine := *clusterEngine
	budget := time.Minute
	switch engine {
	case engineEmu:
	case engineKernel:
		requireKernel(t)
		budget = 3 * time.Minute
	default:
		t.Fatalf("-cluster.engine=%s: want %s or %s", engine, engineEmu, engineKernel)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()

	// Registered before the cluster's own cleanup, so it runs after the
	// processes are gone: a failed kernel run leaves no devices behind.
	var pools []metadata.Pool
	var c *procCluster
	t.Cleanup(func() {
		if engine != engineKernel || c == nil || !t.Failed() {
			return
		}
		for _, p := range pools {
			if err := teardownKernelPool(context.Background(), c, p); err != nil {
				t.Logf("cleanup of pool %s: %v", p.Name, err)
			}
		}
	})
	opts := procOptions{engine: engine}
	if engine == engineKernel {
		opts.timing = "lan" // the guest is TCG-slow: loopback timing flaps there
	}
	c = newProcCluster(t, 3, opts)
	s := &scenario{t: t, ctx: ctx, c: c, cl: c.client("n1", "n2", "n3"), engine: engine}
	lead := c.leader(ctx, s.cl, 3)
	var followers []string
	for _, id := range []string{"n1", "n2", "n3"} {
		if id != lead {
			followers = append(followers, id)
		}
	}
	t.Logf("engine %s, leader %s; pools on %v (%v)", engine, lead, followers, time.Since(start).Round(time.Millisecond))

	if _, err := s.cl.CreateVG(ctx, api.VGCreateRequest{Name: scenVG}); err != nil {
		t.Fatalf("create vg: %v", err)
	}
	poolA := s.createPool("poolA", followers[0], 64*mib, 8*mib)
	poolB := s.createPool("poolB", followers[1], 32*mib, 4*mib)
	pools = []metadata.Pool{poolA, poolB}

	s.createWait("v1", "poolA")
	s.createWait("w1", "poolB")
	s.dataAndSnapshot(poolA)

	s.killLeader()
	// The pool whose node is a follower now: the kernel variant freezes
	// the node to catch the completion gap, which only works on a
	// follower (killDuringStream).
	target := poolA
	if s.leads(poolA.Node) {
		target = poolB
	}
	s.killOwnerMidBatch(target)

	s.check(pools)
	t.Logf("passed in %v", time.Since(start).Round(time.Millisecond))
}

func (s *scenario) createPool(name, node string, data, meta uint64) metadata.Pool {
	s.t.Helper()
	p, err := s.cl.CreatePool(s.ctx, scenVG, api.PoolCreateRequest{Name: name, Node: node, ChunkSectors: chunk,
		DataBytes: data, MetaBytes: meta})
	if err != nil {
		s.t.Fatalf("create pool %s on %s: %v", name, node, err)
	}
	return *p
}

// create queues a volume create and returns its operation id.
func (s *scenario) create(name, pool string) string {
	s.t.Helper()
	r, err := s.cl.CreateVolume(s.ctx, scenVG, api.VolumeCreateRequest{Name: name, Pool: pool, SizeBytes: volBytes})
	if err != nil {
		s.t.Fatalf("create %s: %v", name, err)
	}
	return r.Operation.ID
}

func (s *scenario) delete(name string) string {
	s.t.Helper()
	r, err := s.cl.DeleteVolume(s.ctx, scenVG, name)
	if err != nil {
		s.t.Fatalf("delete %s: %v", name, err)
	}
	return r.Operation.ID
}

func (s *scenario) createWait(name, pool string) {
	s.t.Helper()
	s.waitOps([]string{s.create(name, pool)})
}

func (s *scenario) waitOps(ids []string) {
	s.t.Helper()
	for _, id := range ids {
		if _, err := s.cl.WaitOperation(s.ctx, id); err != nil {
			s.t.Fatalf("operation %s: %v", id, err)
		}
	}
}

func (s *scenario) volume(name string) metadata.Volume {
	s.t.Helper()
	v, err := s.cl.Volume(s.ctx, scenVG, name)
	if err != nil {
		s.t.Fatalf("volume %s: %v", name, err)
	}
	return *v
}

// dataAndSnapshot writes pattern 1 to v1 through its thin device, takes
// snapshot s1 (on the kernel with v1's device active: the agent suspends
// it around create_snap), overwrites part of v1 with pattern 2, and reads
// both back: v1 the new data, s1 the old.
func (s *scenario) dataAndSnapshot(pool metadata.Pool) {
	s.t.Helper()
	offs := []int64{0, 4 * mib, volBytes - ioBlock}
	live := s.engine == engineKernel
	d := beginDevices(s.ctx, s.t, s.c, s.engine, pool)
	writeCheck(s.t, d.thin(s.ctx, s.volume("v1")), "v1 before the snapshot", 1, ioBlock, offs...)
	if !live {
		d.end(s.ctx)
	}
	r, err := s.cl.CreateSnapshot(s.ctx, scenVG, "v1", api.SnapshotCreateRequest{Name: "s1"})
	if err != nil {
		s.t.Fatalf("snapshot s1: %v", err)
	}
	s.waitOps([]string{r.Operation.ID})
	if !live {
		d = beginDevices(s.ctx, s.t, s.c, s.engine, pool)
	}
	v1 := d.thin(s.ctx, s.volume("v1"))
	writeCheck(s.t, v1, "v1 after the snapshot", 2, ioBlock, offs[:2]...)
	readCheck(s.t, v1, "v1's block the snapshot shares", 1, ioBlock, offs[2])
	readCheck(s.t, d.thin(s.ctx, s.volume("s1")), "snapshot s1", 1, ioBlock, offs...)
	d.end(s.ctx)
	s.t.Logf("v1 written (%d x %d KiB), snapshot s1 reads the old data", len(offs), ioBlock>>10)
}

// killLeader kills the leader with SIGKILL while creates are queued on
// both pools, goes on through the others, and restarts it.
func (s *scenario) killLeader() {
	s.t.Helper()
	info, err := s.cl.Cluster(s.ctx)
	if err != nil || info.LeaderID == "" {
		s.t.Fatalf("cluster: %v %+v", err, info)
	}
	lead := info.LeaderID
	var ops []string
	for i := range 3 {
		ops = append(ops, s.create(fmt.Sprintf("a%d", i), "poolA"), s.create(fmt.Sprintf("b%d", i), "poolB"))
	}
	s.t.Logf("kill -9 leader %s", lead)
	s.c.kill(lead)
	for i := 3; i < 5; i++ {
		ops = append(ops, s.create(fmt.Sprintf("a%d", i), "poolA"), s.create(fmt.Sprintf("b%d", i), "poolB"))
	}
	s.c.start(lead)
	s.waitOps(ops)
	s.c.leader(s.ctx, s.c.client(lead), 3)
}

// killOwnerMidBatch streams creates and deletes onto pool's queue and
// kills its node with SIGKILL while the stream runs (killDuringStream
// picks the moment). The node restarts after the stream ends: it must
// find its loop devices and pool device (on the kernel they outlive it),
// adopt them, roll forward a batch the kernel has and the record lacks,
// and drain the queue.
func (s *scenario) killOwnerMidBatch(pool metadata.Pool) {
	s.t.Helper()
	// Talk only to the other nodes meanwhile: a frozen node accepts
	// connections and answers nothing, which would eat a request's whole
	// retry budget.
	var others []string
	for _, id := range []string{"n1", "n2", "n3"} {
		if id != pool.Node {
			others = append(others, id)
		}
	}
	all := s.cl
	s.cl = s.c.client(others...)
	defer func() { s.cl = all }()
	// Volumes the stream deletes.
	var pre []string
	for i := range 6 {
		pre = append(pre, s.create(fmt.Sprintf("d%d", i), pool.Name))
	}
	s.waitOps(pre)
	before := s.pool(pool.Name)
	var kernelMinor uint32
	if s.engine == engineKernel {
		_, info := kernelPoolStatus(s.ctx, s.t, pool)
		kernelMinor = info.Minor
	}
	const n = 24
	var (
		mu   sync.Mutex
		ops  []string
		errs []error
	)
	var frozen atomic.Bool
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		for i := range n {
			for frozen.Load() && s.ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			var r *api.VolumeResponse
			var err error
			if i%4 == 3 && i/4 < 6 {
				r, err = s.cl.DeleteVolume(s.ctx, scenVG, fmt.Sprintf("d%d", i/4))
			} else {
				r, err = s.cl.CreateVolume(s.ctx, scenVG, api.VolumeCreateRequest{Name: fmt.Sprintf("k%d", i), Pool: pool.Name, SizeBytes: volBytes})
			}
			mu.Lock()
			if err != nil {
				errs = append(errs, err)
			} else {
				ops = append(ops, r.Operation.ID)
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	issued := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(ops)
	}
	killedAt := s.killDuringStream(pool, before.TxnID, issued, n, &frozen)
	frozen.Store(false)
	if s.engine == engineKernel {
		// The kernel's devices outlive their manager.
		ps, info := kernelPoolStatus(s.ctx, s.t, pool)
		s.t.Logf("after the kill: kernel pool %s txn %d, minor %d", pool.Name, ps.TransactionID, info.Minor)
		if info.Minor != kernelMinor || !info.LiveTable {
			s.t.Fatalf("pool device changed under the kill: minor %d -> %d, live table %v", kernelMinor, info.Minor, info.LiveTable)
		}
	}
	<-streamed
	if len(errs) > 0 {
		s.t.Fatalf("stream while %s was down: %v", pool.Node, errs[0])
	}
	// The kill must have left work behind for the restarted node: with it
	// down nothing executes, so the record is short of the stream.
	down := s.pool(pool.Name)
	if down.TxnID >= before.TxnID+n {
		s.t.Fatalf("pool %s at txn %d before the restart: the whole stream (%d ops from txn %d) ran before the kill", pool.Name, down.TxnID, n, before.TxnID)
	}
	s.t.Logf("%d of %d ops left for the restarted node", int(before.TxnID)+n-int(down.TxnID), n)
	s.c.start(pool.Node)
	s.waitOps(ops)
	after := s.pool(pool.Name)
	s.t.Logf("pool %s drained after the restart: txn %d -> %d", pool.Name, before.TxnID, after.TxnID)
	if s.engine == engineKernel {
		_, info := kernelPoolStatus(s.ctx, s.t, pool)
		if info.Minor != kernelMinor {
			s.t.Errorf("pool device minor %d after the restart, %d before: recreated, not adopted", info.Minor, kernelMinor)
		}
	}
	s.checkReopen(pool, killedAt, down.TxnID)
}

func (s *scenario) pool(name string) metadata.Pool {
	s.t.Helper()
	p, err := s.cl.Pool(s.ctx, scenVG, name)
	if err != nil {
		s.t.Fatalf("pool %s: %v", name, err)
	}
	return *p
}

// check compares the settled record with the kernel: per pool, the
// volumes' thin ids are exactly the kernel's thin devices and the
// transaction ids agree, live (kernel status line) and on disk after the
// nodes stop (thin_check clean on the kernel).
func (s *scenario) check(pools []metadata.Pool) {
	s.t.Helper()
	list, err := s.cl.Volumes(s.ctx, scenVG, client.ListOptions{Limit: 1000})
	if err != nil {
		s.t.Fatalf("list volumes: %v", err)
	}
	var names []string
	thins := map[string][]uint32{}
	for _, v := range list.Volumes {
		names = append(names, v.Name)
		if v.State != metadata.VolumeActive || v.ThinID == 0 {
			s.t.Errorf("volume %s: state %s thin %d (%s), want active", v.Name, v.State, v.ThinID, v.Reason)
		}
		thins[v.Pool] = append(thins[v.Pool], v.ThinID)
	}
	if want := expectedNames(); !slices.Equal(names, want) {
		s.t.Fatalf("volumes %v\nwant %v", names, want)
	}
	var recorded []metadata.Pool
	for _, p := range pools {
		r := s.pool(p.Name)
		if r.State != metadata.PoolActive || len(r.Findings) > 0 {
			s.t.Fatalf("pool %s: state %s findings %+v, want active and explained", r.Name, r.State, r.Findings)
		}
		if s.engine == engineKernel {
			ps, _ := kernelPoolStatus(s.ctx, s.t, r)
			if ps.TransactionID != r.TxnID {
				s.t.Errorf("pool %s: kernel status txn %d, record %d", r.Name, ps.TransactionID, r.TxnID)
			}
			ls := agent.NewLoopStorage(s.c.dataDir(r.Node), 0)
			meta, data, err := ls.Bindings(r.UUID)
			if err != nil || len(meta) != 1 || len(data) != 1 {
				s.t.Errorf("pool %s: loop bindings %v %v (%v), want one each", r.Name, meta, data, err)
			}
		}
		recorded = append(recorded, r)
	}
	for _, id := range s.c.running() {
		s.c.stop(id)
	}
	for _, r := range recorded {
		d := settledMetadata(s.ctx, s.t, s.c, s.engine, r)
		var kernelIDs []uint32
		for _, dev := range d.Devices {
			kernelIDs = append(kernelIDs, dev.ID)
		}
		want := thins[r.UUID]
		slices.Sort(kernelIDs)
		slices.Sort(want)
		if d.Transaction != r.TxnID || !slices.Equal(kernelIDs, want) {
			s.t.Errorf("pool %s: kernel txn %d thins %v; record txn %d thins %v", r.Name, d.Transaction, kernelIDs, r.TxnID, want)
			continue
		}
		s.t.Logf("pool %s: txn %d and %d thin ids agree (kernel metadata after stop)", r.Name, r.TxnID, len(want))
	}
}

// expectedNames are the volumes the scenario leaves, sorted.
func expectedNames() []string {
	names := []string{"v1", "s1", "w1"}
	for i := range 5 {
		names = append(names, fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i))
	}
	for i := range 24 {
		if i%4 != 3 {
			names = append(names, fmt.Sprintf("k%d", i))
		}
	}
	slices.Sort(names)
	return names
}
