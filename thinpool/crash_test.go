package thinpool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/dmtest"
)

// The crash matrix: for every operation and every failpoint on its path, a
// child process (this test binary, re-executed) opens the pool, writes and
// flushes checksummed data, arms the failpoint to exit the process and runs
// the operation. The parent checks the child really died at the failpoint,
// opens the pool again — a new engine on the same files, or on the kernel
// the devices the dead process left — and requires Open's reconcile to have
// converged: kernel txn == record txn, no pending intent, the interrupted
// operation finished, every acknowledged volume present with its data, the
// kernel's thin ids equal to the record's, no quarantine, a pool that takes
// new operations, and metadata the thin tools call clean.

const (
	// crashExitCode is the child's exit status at the armed failpoint.
	crashExitCode = 86
	// crashSpecEnv carries the child's crashSpec (JSON).
	crashSpecEnv = "THINPOOL_CRASH_SPEC"
	// crashVolBytes is the size of every volume in the matrix.
	crashVolBytes = 4 << 20
	crashVolSects = crashVolBytes / dm.SectorSize
	crashBlock    = 64 << 10 // pool chunk
)

// crashSpec is what a child needs to rebuild the parent's pool.
type crashSpec struct {
	Engine    string
	Dir       string
	Rig       poolRig
	Case      string
	Failpoint Failpoint
}

// crashCase is one operation of the matrix.
type crashCase struct {
	name string
	fps  []Failpoint
	// metaSize and dataSize default to 4 MiB and 64 MiB.
	metaSize, dataSize int64
	// setup runs in the parent before the crash run; it builds the
	// acknowledged state the operation starts from.
	setup func(c *crashRun) error
	// prepare runs in the child before the failpoint is armed (writes that
	// are flushed and acknowledged, activation).
	prepare func(c *crashRun) error
	// op is the operation the failpoint interrupts.
	op func(c *crashRun) error
	// converged updates the parent's expected volumes for the finished
	// operation; txnStep is 1 for a protocol operation, 0 for a resize.
	converged func(c *crashRun)
	txnStep   uint64
	// check is an extra assertion after recovery.
	check func(c *crashRun) error
}

var snapFailpoints = []Failpoint{FPBeforeMessage, FPSnapOriginSuspended, FPSnapBeforeResume, FPAfterMessage, FPAfterSetTxn}
var txnFailpoints = []Failpoint{FPBeforeMessage, FPAfterMessage, FPAfterSetTxn}
var resizeFailpoints = []Failpoint{FPResizeAfterGrow, FPResizeAfterLoad}

func crashCases() []crashCase {
	vol := uint64(crashVolSects)
	return []crashCase{
		{
			name: "create", fps: txnFailpoints, txnStep: 1,
			setup: func(c *crashRun) error { return c.createWritten(1, 1) },
			op:    func(c *crashRun) error { return c.pool.CreateThin(c.ctx, 2, vol) },
			converged: func(c *crashRun) {
				c.want[2] = make(volumeImage, crashVolBytes)
			},
		},
		{
			name: "snapshot-inactive-origin", fps: txnFailpoints, txnStep: 1,
			setup: func(c *crashRun) error {
				if err := c.createWritten(1, 1); err != nil {
					return err
				}
				return c.deactivate(1)
			},
			op:        func(c *crashRun) error { return c.pool.Snapshot(c.ctx, 2, 1) },
			converged: func(c *crashRun) { c.want[2] = c.copyOf(1) },
		},
		{
			name: "snapshot-active-origin", fps: snapFailpoints, txnStep: 1,
			setup: func(c *crashRun) error { return c.createWritten(1, 1) },
			prepare: func(c *crashRun) error {
				// The origin stays open and active; the data written by this
				// process is flushed (acknowledged) before the snapshot.
				if err := c.write(1, 2, 3*crashBlock, 2*crashBlock); err != nil {
					return err
				}
				return c.flush(1)
			},
			op:        func(c *crashRun) error { return c.pool.Snapshot(c.ctx, 2, 1) },
			converged: func(c *crashRun) { c.want[2] = c.copyOf(1) },
		},
		{
			name: "snapshot-of-snapshot", fps: txnFailpoints, txnStep: 1,
			setup: func(c *crashRun) error {
				if err := c.createWritten(1, 1); err != nil {
					return err
				}
				if err := c.snapshot(2, 1); err != nil {
					return err
				}
				if err := c.write(2, 3, 0, crashBlock); err != nil {
					return err
				}
				if err := c.flush(2); err != nil {
					return err
				}
				return c.deactivate(2)
			},
			op:        func(c *crashRun) error { return c.pool.Snapshot(c.ctx, 3, 2) },
			converged: func(c *crashRun) { c.want[3] = c.copyOf(2) },
		},
		{
			name: "delete-inactive", fps: txnFailpoints, txnStep: 1,
			setup: func(c *crashRun) error {
				if err := c.createWritten(1, 1); err != nil {
					return err
				}
				if err := c.createWritten(2, 2); err != nil {
					return err
				}
				return c.deactivate(2)
			},
			op:        func(c *crashRun) error { return c.pool.Delete(c.ctx, 2) },
			converged: func(c *crashRun) { delete(c.want, 2) },
		},
		{
			name: "delete-origin-with-snapshots", fps: txnFailpoints, txnStep: 1,
			setup: func(c *crashRun) error {
				if err := c.createWritten(1, 1); err != nil {
					return err
				}
				if err := c.snapshot(2, 1); err != nil {
					return err
				}
				if err := c.snapshot(3, 1); err != nil {
					return err
				}
				// Diverge the origin from its snapshots.
				if err := c.write(1, 4, crashBlock, crashBlock); err != nil {
					return err
				}
				if err := c.flush(1); err != nil {
					return err
				}
				return c.deactivate(1)
			},
			op:        func(c *crashRun) error { return c.pool.Delete(c.ctx, 1) },
			converged: func(c *crashRun) { delete(c.want, 1) },
		},
		{
			name: "delete-active", fps: txnFailpoints, txnStep: 1,
			setup: func(c *crashRun) error {
				if err := c.createWritten(1, 1); err != nil {
					return err
				}
				return c.createWritten(2, 2)
			},
			prepare: func(c *crashRun) error {
				// Active, written by this process, closed: the delete must
				// deactivate it (redo on the kernel finds it still active).
				if err := c.write(2, 5, 0, crashBlock); err != nil {
					return err
				}
				if err := c.flush(2); err != nil {
					return err
				}
				return c.close(2)
			},
			op:        func(c *crashRun) error { return c.pool.Delete(c.ctx, 2) },
			converged: func(c *crashRun) { delete(c.want, 2) },
		},
		{
			// 100 of 128 blocks used: over the 70% threshold.
			name: "autoextend-data", fps: resizeFailpoints, dataSize: 8 << 20,
			setup: func(c *crashRun) error {
				if err := c.pool.CreateThin(c.ctx, 1, uint64(8<<20/dm.SectorSize)); err != nil {
					return err
				}
				c.want[1] = make(volumeImage, 8<<20)
				if err := c.write(1, 1, 0, 100*crashBlock); err != nil {
					return err
				}
				return c.flush(1)
			},
			op:    func(c *crashRun) error { return c.autoextend("data") },
			check: func(c *crashRun) error { return c.checkGrown(c.rig.Data, 8<<20) },
		},
		{
			// A 320 GiB sparse data device needs ~320 data space map
			// bitmaps: over 70% of a 2 MiB metadata device on both engines.
			name: "autoextend-metadata", fps: resizeFailpoints, metaSize: 2 << 20, dataSize: 320 << 30,
			setup: func(c *crashRun) error { return c.createWritten(1, 1) },
			op:    func(c *crashRun) error { return c.autoextend("metadata") },
			check: func(c *crashRun) error { return c.checkGrown(c.rig.Meta, 2<<20) },
		},
	}
}

// TestCrashMatrix runs every operation x failpoint on the engine chosen with
// -thinpool.engine.
func TestCrashMatrix(t *testing.T) {
	if os.Getenv(crashSpecEnv) != "" {
		t.Skip("inside a crash child")
	}
	engine := testEngine()
	if err := dmtest.CheckEngine("thinpool.engine", engine); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cc := range crashCases() {
		for _, fp := range cc.fps {
			n++
			t.Run(cc.name+"/"+string(fp), func(t *testing.T) {
				runCrashCase(t, engine, fmt.Sprintf("cm%d", n), cc, fp)
			})
		}
	}
	t.Logf("engine %s: %d crash cases", engine, n)
}

// TestCrashMatrixChild is the child half of TestCrashMatrix; it only runs
// when the parent sets crashSpecEnv, and must end in os.Exit at the
// failpoint.
func TestCrashMatrixChild(t *testing.T) {
	raw := os.Getenv(crashSpecEnv)
	if raw == "" {
		t.Skip("run by TestCrashMatrix in a child process")
	}
	var spec crashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatalf("crash spec: %v", err)
	}
	var cc *crashCase
	for _, c := range crashCases() {
		if c.name == spec.Case {
			cc = &c
		}
	}
	if cc == nil {
		t.Fatalf("no crash case %q", spec.Case)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := dmtest.New(spec.Engine, spec.Dir)
	if err != nil {
		t.Fatal(err)
	}
	fp := &Failpoints{}
	rig := spec.Rig
	p, err := rig.open(ctx, env, fp)
	if err != nil {
		t.Fatalf("child: open pool: %v", err)
	}
	c := &crashRun{ctx: ctx, env: env, rig: &rig, pool: p, dir: spec.Dir, open: map[uint32]dm.BlockDevice{}}
	if err := c.loadWant(); err != nil {
		t.Fatal(err)
	}
	if cc.prepare != nil {
		if err := cc.prepare(c); err != nil {
			t.Fatalf("child: prepare: %v", err)
		}
	}
	fp.ArmExit(spec.Failpoint, crashExitCode)
	err = cc.op(c)
	t.Fatalf("child: %s returned (%v) without reaching failpoint %s", cc.name, err, spec.Failpoint)
}

func runCrashCase(t *testing.T, engine, poolName string, cc crashCase, fp Failpoint) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	env := dmtest.ForTest(t, engine)
	metaSize, dataSize := cc.metaSize, cc.dataSize
	if metaSize == 0 {
		metaSize = 4 << 20
	}
	if dataSize == 0 {
		dataSize = 64 << 20
	}
	rig := newPoolRig(t, env, Config{Name: poolName}, metaSize, dataSize)
	c := &crashRun{ctx: ctx, env: env, rig: rig, dir: env.Dir(), want: map[uint32]volumeImage{}, open: map[uint32]dm.BlockDevice{}}
	if err := os.MkdirAll(c.imageDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	c.pool = rig.mustOpen(t, ctx, env)
	if err := cc.setup(c); err != nil {
		t.Fatalf("setup: %v", err)
	}
	if err := c.closeAll(); err != nil {
		t.Fatalf("setup: %v", err)
	}
	st0 := c.mustRecord(t)
	// The parent steps aside as a process that exits would: the child
	// is the only user of the pool until it dies.
	env.Crash()

	out, code := c.runChild(t, cc.name, fp)
	if code != crashExitCode {
		t.Fatalf("child exited with %d, want %d (the failpoint %s): the crash did not happen where the test says\n%s", code, crashExitCode, fp, out)
	}
	if _, err := env.Reopen(); err != nil {
		t.Fatal(err)
	}
	p, err := rig.open(ctx, env, nil)
	if err != nil {
		t.Fatalf("open after the crash: %v\nchild output:\n%s", err, out)
	}
	c.pool = p
	rep := p.LastReconcile()
	t.Logf("reconcile after crash at %s: %v", fp, rep.Actions)
	if err := c.loadWant(); err != nil {
		t.Fatal(err)
	}
	if cc.converged != nil {
		cc.converged(c)
	}
	c.verify(t, st0.TxnID+cc.txnStep, rep)
	if cc.check != nil {
		if err := cc.check(c); err != nil {
			t.Error(err)
		}
	}
	// A second reconcile finds nothing left to do.
	if rep2, err := p.Reconcile(ctx); err != nil || len(rep2.Actions) != 0 || len(rep2.Findings) != 0 {
		t.Errorf("second reconcile: %+v, %v; want nothing to do", rep2, err)
	}
	// The pool takes new operations.
	if err := p.CreateThin(ctx, 100, crashVolSects); err != nil {
		t.Errorf("create after recovery: %v", err)
	} else if err := p.Delete(ctx, 100); err != nil {
		t.Errorf("delete after recovery: %v", err)
	}
	if err := rig.teardown(ctx, env, p); err != nil {
		t.Error(err)
	}
}

// runChild re-executes this test binary as the crash child and returns its
// output and exit status.
func (c *crashRun) runChild(t *testing.T, name string, fp Failpoint) (string, int) {
	spec, err := json.Marshal(crashSpec{Engine: c.env.Engine(), Dir: c.dir, Rig: *c.rig, Case: name, Failpoint: fp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashMatrixChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), crashSpecEnv+"="+string(spec))
	outb, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(outb), 0
	case errors.As(err, &ee):
		return string(outb), ee.ExitCode()
	default:
		t.Fatalf("run child: %v\n%s", err, outb)
		return "", -1
	}
}

// verify is the convergence check after a restart.
func (c *crashRun) verify(t *testing.T, wantTxn uint64, rep ReconcileReport) {
	t.Helper()
	if q := c.pool.Quarantined(); len(q) != 0 {
		t.Fatalf("quarantined after an explainable crash: %v", q)
	}
	st := c.mustRecord(t)
	ps, err := c.pool.Status(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != nil {
		t.Errorf("intent still pending: %s", st.Pending)
	}
	if len(st.Quarantined) != 0 {
		t.Errorf("record has quarantine findings: %v", st.Quarantined)
	}
	if ps.TransactionID != st.TxnID {
		t.Errorf("kernel transaction %d, record %d", ps.TransactionID, st.TxnID)
	}
	if st.TxnID != wantTxn {
		t.Errorf("record transaction %d, want %d (the interrupted operation finished)", st.TxnID, wantTxn)
	}
	kernel, err := kernelThinIDs(c.ctx, c.pool)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[uint32]bool{}
	for id := range st.Thins {
		recorded[id] = true
	}
	want := map[uint32]bool{}
	for id := range c.want {
		want[id] = true
	}
	if k, r, w := idList(kernel), idList(recorded), idList(want); k != r || r != w {
		t.Errorf("thin ids: kernel %s, record %s, acknowledged %s", k, r, w)
	}
	ids := make([]uint32, 0, len(c.want))
	for id := range c.want {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if !recorded[id] {
			continue
		}
		if err := checkVolume(c.ctx, c.pool, id, c.want[id]); err != nil {
			t.Error(err)
		}
		if err := c.pool.DeactivateThin(c.ctx, id); err != nil {
			t.Error(err)
		}
	}
}

func idList(m map[uint32]bool) string {
	var ids []string
	for id := range m {
		ids = append(ids, strconv.FormatUint(uint64(id), 10))
	}
	sort.Slice(ids, func(i, j int) bool { return len(ids[i]) < len(ids[j]) || len(ids[i]) == len(ids[j]) && ids[i] < ids[j] })
	return "[" + strings.Join(ids, " ") + "]"
}
