package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mrand "math/rand/v2"

	"github.com/anishathalye/porcupine"
	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/dm/emu"
	"github.com/thinraft/thinraft/metadata"
)

var (
	linOps   = flag.Int("lin.ops", 10000, "TestLinearizable: client operations to record")
	linPause = flag.Bool("lin.pause", false, "TestLinearizable: also freeze the leader with SIGSTOP for 3 s mid-run")
)

const (
	linClients  = 8
	linFamilies = 24
)

// TestLinearizable records a history of concurrent creates, snapshots,
// extends, deletes and reads from 8 clients against three `thinraft agent`
// processes while the leader is killed with SIGKILL and restarted, the
// leader is partitioned from the others for 4 s and healed, the pool's node
// is partitioned likewise, and the leader is killed again (with -lin.pause
// it is also frozen with SIGSTOP until deposed); it checks the history with
// porcupine against the namespace model, then that no acknowledged volume
// was lost and that the pool's record transaction id is the kernel's
// (userspace engine) once the cluster has settled.
func TestLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three processes")
	}
	faults := []linFault{{0.15, killLeader}, {0.35, partitionLeader}, {0.55, partitionPoolNode}, {0.8, killLeader}}
	if *linPause {
		faults = append(faults, linFault{0.65, pauseLeader})
		slices.SortFunc(faults, func(a, b linFault) int { return cmp.Compare(a.at, b.at) })
	}
	runLinearizable(t, 3, *linOps, faults)
}

// TestLinearizable5 is the same check on five processes, with the faults a
// five-node cluster survives and a three-node one does not: two followers
// killed at once, then the leader partitioned while a follower is down.
func TestLinearizable5(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five processes")
	}
	runLinearizable(t, 5, max(*linOps/2, 1000), []linFault{{0.2, killLeader}, {0.4, killTwoFollowers}, {0.6, partitionLeader}, {0.8, partitionPoolNode}})
}

// linFault is a fault injected once the given share of the operations was
// issued, the workload going on meanwhile.
type linFault struct {
	at   float64
	what linFaultKind
}

type linFaultKind int

const (
	// killLeader: SIGKILL the leader, restart it 2 s later.
	killLeader linFaultKind = iota
	// killTwoFollowers: SIGKILL two followers at once, restart them 3 s
	// later (five nodes keep a majority).
	killTwoFollowers
	// partitionLeader: cut the leader off from the others for 4 s.
	partitionLeader
	// partitionPoolNode: cut n1, the pool's node, off for 4 s.
	partitionPoolNode
	// pauseLeader: SIGSTOP the leader for 3 s (-lin.pause).
	pauseLeader
)

func runLinearizable(t *testing.T, nodes, total int, faults []linFault) {
	budget := 3*time.Minute + time.Duration(total/10000)*2*time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	c := newProcCluster(t, nodes)
	ids := c.running()
	ctl := c.client(ids...)
	c.leader(ctx, ctl, nodes)
	const vg, poolName = "vg1", "pool1"
	if _, err := ctl.CreateVG(ctx, api.VGCreateRequest{Name: vg}); err != nil {
		t.Fatalf("create vg: %v", err)
	}
	pool, err := ctl.CreatePool(ctx, vg, api.PoolCreateRequest{Name: poolName, Node: "n1", ChunkSectors: 128,
		DataBytes: 256 << 20, MetaBytes: 16 << 20})
	if err != nil {
		t.Fatalf("create pool: %v", err)
	}

	rec := &linRecorder{start: time.Now()}
	var issued atomic.Int64
	var faultsDone atomic.Bool
	var wg sync.WaitGroup
	for w := range linClients {
		cl := c.client(ids...)
		rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The workload runs until it has issued total operations and
			// every fault has been injected, so a fault never finds the
			// run already over.
			for (issued.Add(1) <= int64(total) || !faultsDone.Load()) && ctx.Err() == nil {
				in := linRandomInput(rng, linFamilies)
				call := rec.now()
				octx, ocancel := context.WithTimeout(ctx, 15*time.Second)
				out := linDo(octx, cl, vg, poolName, in)
				ocancel()
				rec.add(w, call, in, out)
			}
		}()
	}

	for _, f := range faults {
		for issued.Load() < int64(f.at*float64(total)) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		lead := c.leader(ctx, ctl, nodes)
		switch f.what {
		case killLeader:
			t.Logf("after %d ops: kill -9 leader %s", issued.Load(), lead)
			c.kill(lead)
			time.Sleep(2 * time.Second)
			t.Logf("restart %s", lead)
			c.start(lead)
		case partitionLeader, partitionPoolNode:
			victim := lead
			if f.what == partitionPoolNode {
				victim = "n1"
			}
			t.Logf("after %d ops: partition %s (leader %s) from the others for 4 s", issued.Load(), victim, lead)
			c.isolate(victim)
			time.Sleep(4 * time.Second)
			c.heal()
			t.Logf("healed; leader now %s", c.leader(ctx, ctl, nodes))
		case pauseLeader:
			t.Logf("after %d ops: SIGSTOP leader %s for 3 s", issued.Load(), lead)
			c.pauseFor(lead, 3*time.Second)
			t.Logf("SIGCONT %s; leader now %s", lead, c.leader(ctx, ctl, nodes))
		case killTwoFollowers:
			var fs []string
			for _, id := range ids {
				if id != lead && len(fs) < 2 {
					fs = append(fs, id)
				}
			}
			t.Logf("after %d ops: kill -9 followers %v (leader %s)", issued.Load(), fs, lead)
			for _, id := range fs {
				c.kill(id)
			}
			time.Sleep(3 * time.Second)
			for _, id := range fs {
				c.start(id)
			}
			t.Logf("restarted %v", fs)
		}
	}
	faultsDone.Store(true)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		t.Fatalf("workload did not finish within %v: %v", budget, err)
	}
	t.Logf("workload: %d ops in %v", len(rec.history()), time.Since(rec.start).Round(time.Millisecond))

	// Settle: every intent executed (no volume creating or deleting).
	vols := linSettle(ctx, t, ctl, vg)

	// A final sequential read of every name joins the history, so a lost
	// acknowledged write shows as a non-linearizable history too.
	for f := range linFamilies {
		for slot := range 1 + linSnapsPerFamily {
			in := linInput{Kind: linRead, Family: f, Slot: slot}
			call := rec.now()
			rec.add(linClients, call, in, linDo(ctx, ctl, vg, poolName, in))
		}
	}
	h := rec.history()
	counts := map[linKind]int{}
	unknown := 0
	for _, op := range h {
		counts[op.Input.(linInput).Kind]++
		if op.Output.(linOutput).Outcome == linUnknown {
			unknown++
		}
	}
	checkStart := time.Now()
	res, info := porcupine.CheckOperationsVerbose(linModel(), h, 2*time.Minute)
	t.Logf("porcupine checked %d operations (%d create, %d snapshot, %d extend, %d delete, %d read; %d unknown outcomes) in %v: %s",
		len(h), counts[linCreate], counts[linSnapshot], counts[linExtend], counts[linDelete], counts[linRead], unknown,
		time.Since(checkStart).Round(time.Millisecond), res)
	if res != porcupine.Ok {
		path := filepath.Join(os.TempDir(), "thinraft-lin-"+time.Now().Format("150405")+".html")
		if err := porcupine.VisualizePath(linModel(), info, path); err == nil {
			t.Logf("visualization: %s", path)
		}
		linLogIllegal(t, h)
		t.Fatalf("history is not linearizable (%s)", res)
	}
	if len(h) < total {
		t.Fatalf("only %d operations recorded, want >= %d", len(h), total)
	}

	linCheckAcked(t, h, vols)

	// The kernel side: the pool's record and the userspace engine's
	// on-disk metadata (readable once its node stopped) agree.
	pv, err := ctl.Pool(ctx, vg, poolName)
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	if pv.State != metadata.PoolActive || len(pv.Findings) > 0 {
		t.Fatalf("pool state %s findings %+v: want active and explained", pv.State, pv.Findings)
	}
	for _, id := range c.running() {
		c.stop(id)
	}
	meta := filepath.Join(c.dir, "n1", "data", "pools", pool.UUID+".meta")
	d, err := emu.DumpMetadata(meta, false)
	if err != nil {
		t.Fatalf("dump %s: %v", meta, err)
	}
	if d.Transaction != pv.TxnID || pv.TxnID == 0 {
		t.Fatalf("kernel transaction %d, record %d", d.Transaction, pv.TxnID)
	}
	var kernel, record []uint32
	for _, dd := range d.Devices {
		kernel = append(kernel, dd.ID)
	}
	for _, v := range vols {
		record = append(record, v.ThinID)
	}
	slices.Sort(kernel)
	slices.Sort(record)
	if !slices.Equal(kernel, record) {
		t.Fatalf("kernel thin ids %v, record %v", kernel, record)
	}
	t.Logf("settled: %d volumes, txn %d in record and kernel", len(vols), pv.TxnID)
}

// linSettle waits until no volume has pending kernel work and returns the
// VG's volumes.
func linSettle(ctx context.Context, t *testing.T, cl *client.Client, vg string) []metadata.Volume {
	t.Helper()
	for {
		var all []metadata.Volume
		lo := client.ListOptions{}
		var err error
		for {
			var page *api.VolumeList
			page, err = cl.Volumes(ctx, vg, lo)
			if err != nil {
				break
			}
			all = append(all, page.Volumes...)
			if page.Next == "" {
				break
			}
			lo.After = page.Next
		}
		pending := 0
		if err == nil {
			for _, v := range all {
				if v.State == metadata.VolumeCreating || v.State == metadata.VolumeDeleting || v.State == metadata.VolumeReverting {
					pending++
				}
			}
			if pending == 0 {
				for _, v := range all {
					if v.State != metadata.VolumeActive {
						t.Errorf("volume %s is %s (%s) after settling", v.Name, v.State, v.Reason)
					}
				}
				return all
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cluster did not settle: %d volumes pending, last error %v", pending, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// linCheckAcked: every acknowledged create or snapshot is present at the
// end unless a delete of its name that was not refused could have come
// after it.
func linCheckAcked(t *testing.T, h []porcupine.Operation, vols []metadata.Volume) {
	t.Helper()
	present := map[string]bool{}
	for _, v := range vols {
		present[v.UUID] = true
	}
	type key struct{ f, slot int }
	deletes := map[key][]porcupine.Operation{}
	for _, op := range h {
		in := op.Input.(linInput)
		if in.Kind == linDelete && op.Output.(linOutput).Outcome != linErr {
			deletes[key{in.Family, in.Slot}] = append(deletes[key{in.Family, in.Slot}], op)
		}
	}
	acked, lost := 0, 0
	for _, op := range h {
		in := op.Input.(linInput)
		if (in.Kind != linCreate && in.Kind != linSnapshot) || op.Output.(linOutput).Outcome != linOK {
			continue
		}
		acked++
		deleted := false
		for _, d := range deletes[key{in.Family, in.Slot}] {
			if d.Return > op.Call {
				deleted = true
				break
			}
		}
		if !deleted && !present[in.UUID] {
			lost++
			t.Errorf("acknowledged %s of %s (uuid %s) is gone and no delete could have removed it", in.Kind, linName(in.Family, in.Slot), in.UUID)
		}
	}
	t.Logf("%d acknowledged creates and snapshots, %d lost", acked, lost)
}

// linLogIllegal logs, for each family whose history alone is not
// linearizable, its operations in call order.
func linLogIllegal(t *testing.T, h []porcupine.Operation) {
	t.Helper()
	m := linModel()
	for _, part := range m.Partition(h) {
		if porcupine.CheckOperations(m, part) {
			continue
		}
		slices.SortFunc(part, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
		var b strings.Builder
		for _, op := range part {
			ret := "inf"
			if op.Return != math.MaxInt64 {
				ret = strconv.FormatFloat(float64(op.Return)/1e6, 'f', 1, 64)
			}
			fmt.Fprintf(&b, "  c%d [%.1f, %s ms] %s\n", op.ClientId, float64(op.Call)/1e6, ret, m.DescribeOperation(op.Input, op.Output))
		}
		t.Logf("family %d is not linearizable:\n%s", part[0].Input.(linInput).Family, b.String())
	}
}
