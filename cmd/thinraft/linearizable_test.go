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
	linRun   = flag.Bool("lin", false, "run TestLinearizable (opt-in until the retry bugs in docs/linearizability.md are fixed)")
	linPause = flag.Bool("lin.pause", false, "TestLinearizable: also freeze the leader with SIGSTOP for 3 s mid-run (a partition stand-in; see docs/linearizability.md)")
)

const (
	linClients  = 8
	linFamilies = 24
)

// TestLinearizable records a history of concurrent creates, snapshots,
// extends, deletes and reads from 8 clients against three `thinraft agent`
// processes while the leader is killed with SIGKILL twice and restarted
// (and with -lin.pause once frozen with SIGSTOP until deposed), and checks it with porcupine against the namespace model; then checks
// that no acknowledged volume was lost and that the pool's record
// transaction id is the kernel's (userspace engine) once the cluster has
// settled. A true network partition is not injected: the agent processes
// have no fault hook yet (see docs/linearizability.md).
func TestLinearizable(t *testing.T) {
	if !*linRun {
		// Opt-in for now: the test found two real bugs in retried creates
		// (docs/linearizability.md, "Findings") and fails about one run in
		// fifteen until they are fixed. It must not make CI a coin toss;
		// run it with: go test ./cmd/thinraft -run TestLinearizable -lin
		t.Skip("opt-in until the retried-create bugs in docs/linearizability.md are fixed: go test ./cmd/thinraft -run TestLinearizable -lin")
	}
	if testing.Short() {
		t.Skip("builds the binary and runs three processes")
	}
	total := *linOps
	budget := 3*time.Minute + time.Duration(total/10000)*2*time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	c := newProcCluster(t, 3)
	ctl := c.client("n1", "n2", "n3")
	c.leader(ctx, ctl, 3)
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
	var wg sync.WaitGroup
	for w := range linClients {
		cl := c.client("n1", "n2", "n3")
		rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for issued.Add(1) <= int64(total) && ctx.Err() == nil {
				in := linRandomInput(rng, linFamilies)
				call := rec.now()
				octx, ocancel := context.WithTimeout(ctx, 15*time.Second)
				out := linDo(octx, cl, vg, poolName, in)
				ocancel()
				rec.add(w, call, in, out)
			}
		}()
	}

	// Faults at points of the run, the workload going on meanwhile: the
	// leader killed with SIGKILL and restarted (twice), and with -lin.pause
	// the leader frozen with SIGSTOP long enough to be deposed, then
	// continued (off by default: a node so paused can hang at shutdown,
	// see docs/linearizability.md).
	faults := []struct {
		at   float64
		kill bool
	}{{0.2, true}, {0.45, false}, {0.7, true}}
	if !*linPause {
		faults = slices.Delete(faults, 1, 2)
	}
	for _, f := range faults {
		for issued.Load() < int64(f.at*float64(total)) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		lead := c.leader(ctx, ctl, 3)
		if f.kill {
			t.Logf("after %d ops: kill -9 leader %s", issued.Load(), lead)
			c.kill(lead)
			time.Sleep(2 * time.Second)
			t.Logf("restart %s", lead)
			c.start(lead)
			continue
		}
		t.Logf("after %d ops: SIGSTOP leader %s for 3 s", issued.Load(), lead)
		c.pauseFor(lead, 3*time.Second)
		t.Logf("SIGCONT %s; leader now %s", lead, c.leader(ctx, ctl, 3))
	}
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
