package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// Config wires an agent to its node.
type Config struct {
	// Node is this node's id: the agent owns FSM.PoolsOfNode(Node).
	Node     string
	FSM      *metadata.FSM
	Proposer Proposer
	Control  dm.Control
	Storage  Storage
	// Pool is the node's pool policy (Autoextend, Reserve, LowWaterBlocks);
	// the rest of each pool's configuration comes from its record.
	Pool thinpool.Config
	// MaxBatch caps the intents executed as one kernel transaction
	// (default 1024).
	MaxBatch int
	// ReconcileInterval is the period of the kernel-vs-record check
	// (default 1 minute); ReportInterval that of usage reports (default
	// 30 s); MonitorInterval thinpool.Monitor's check period (default 10 s).
	ReconcileInterval time.Duration
	ReportInterval    time.Duration
	MonitorInterval   time.Duration
	// RetryMin and RetryMax bound the backoff after a failed batch or open
	// (defaults 100 ms and 30 s).
	RetryMin, RetryMax time.Duration
	// ProposeTimeout bounds each command the agent proposes (default
	// DefaultProposeTimeout).
	ProposeTimeout time.Duration
	// Pipeline is how many batches of a pool may have their completion
	// outstanding: with 2 or more (DefaultPipeline) the next batch
	// executes while the previous ones' completions are proposed, each
	// sent at once and put in order by the leader (pipeline.go); 1 waits
	// for each completion to commit before the next batch
	// (docs/agent.md, "Pipelined batches").
	Pipeline int
	// Failpoints are handed to every pool (crash tests).
	Failpoints *thinpool.Failpoints
	// OnBatch, if set, is told of every batch whose completion committed,
	// with the time from the batch's start to its commit (tests, metrics).
	OnBatch func(pool string, intents int, took time.Duration)
	Logger  *slog.Logger
	// Now is the clock for command timestamps (default time.Now).
	Now func() time.Time
}

func (c *Config) fill() error {
	if c.Node == "" || c.FSM == nil || c.Proposer == nil || c.Control == nil || c.Storage == nil {
		return fmt.Errorf("agent: Node, FSM, Proposer, Control and Storage are required")
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1024
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = time.Minute
	}
	if c.ReportInterval <= 0 {
		c.ReportInterval = 30 * time.Second
	}
	if c.MonitorInterval <= 0 {
		c.MonitorInterval = 10 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(30*time.Second, c.RetryMin)
	}
	if c.ProposeTimeout <= 0 {
		c.ProposeTimeout = DefaultProposeTimeout
	}
	if c.Pipeline <= 0 {
		c.Pipeline = DefaultPipeline
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Stats counts what an agent did since it started.
type Stats struct {
	Batches  int // batches whose completion committed (fully or up to a refusal)
	Intents  int // intents completed
	MaxBatch int // largest batch completed
	Refused  int // intents refused (abandoned)
	Errors   int // failed attempts (retried)
}

// Agent drives its node's pools from the replicated record. Run it once.
type Agent struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	pools map[string]*poolRun
	// active are the volumes OpenVolume activated, by uuid.
	active map[string]activeThin
	stats  Stats
	// x are the NBD exports (activation.go).
	x  exports
	wg sync.WaitGroup
	// completed is poked when a pipelined completion ends: a pool may
	// start its next batch, or report a failure.
	completed chan struct{}
}

// poolRun is one open pool and its retry state. Only the Run goroutine
// changes the retry fields.
type poolRun struct {
	pool *thinpool.Pool
	rec  *Record
	stop context.CancelFunc
	// monitored is closed when the pool's Monitor has returned.
	monitored chan struct{}
	// recData and recMeta are the record's device sizes last acted on.
	recData, recMeta uint64
	fails            int
	next             time.Time
	// settling: a batch succeeded but its pipelined completion has not
	// committed yet; the failure state is cleared when it has.
	settling bool
	// lastErr is the latest failure, "" after a success (under Agent.mu:
	// PoolStatus reads it).
	lastErr string
}

// openFailure remembers a pool that could not be opened, for backoff.
type openFailure struct {
	fails int
	next  time.Time
}

// New checks cfg and returns an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, log: cfg.Logger.With("node", cfg.Node), pools: map[string]*poolRun{}, active: map[string]activeThin{}, x: newExports(),
		completed: make(chan struct{}, 1)}, nil
}

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Run opens the node's pools (activate and reconcile), then executes their
// intent queues as the record changes, reconciles and reports on timers,
// until ctx ends. Pools stay active when it returns: like kernel devices,
// they outlive the process, and the next Run adopts them.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeAll()
	defer a.closeExports()
	// Reconciles and usage reports run beside the batch loop, and end
	// before the pools close (deferred after closeAll, so run before it).
	pctx, stopPeriodic := context.WithCancel(ctx)
	periodicDone := make(chan struct{})
	go func() {
		defer close(periodicDone)
		a.periodic(pctx)
	}()
	defer func() {
		stopPeriodic()
		<-periodicDone
	}()
	failed := map[string]*openFailure{}
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		// Take the channel before reading, so no change is missed.
		changed := a.cfg.FSM.Watch()
		a.retireExports(ctx)
		wake := a.step(ctx, failed)
		a.followSizes(ctx)
		a.reportOpen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		retry.Reset(time.Hour)
		if !wake.IsZero() {
			retry.Reset(max(time.Until(wake), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-a.x.poke:
		case <-a.completed:
		case <-retry.C:
		}
	}
}

// step brings the set of open pools in line with the record and executes
// pending queues. It returns the earliest time a backed-off pool is due
// (zero if none).
func (a *Agent) step(ctx context.Context, failed map[string]*openFailure) time.Time {
	var wake time.Time
	due := func(t time.Time) {
		if wake.IsZero() || t.Before(wake) {
			wake = t
		}
	}
	now := time.Now()
	mine := map[string]metadata.Pool{}
	for _, p := range a.cfg.FSM.PoolsOfNode(a.cfg.Node) {
		mine[p.UUID] = p
	}
	a.closeRemoved(ctx, mine)
	for uuid, p := range mine {
		if ctx.Err() != nil {
			return wake
		}
		run := a.pool(uuid)
		if run == nil {
			f := failed[uuid]
			if f != nil && now.Before(f.next) {
				due(f.next)
				continue
			}
			var err error
			if run, err = a.open(ctx, p); err != nil {
				if f == nil {
					f = &openFailure{}
					failed[uuid] = f
				}
				f.fails++
				f.next = now.Add(a.backoff(f.fails))
				due(f.next)
				a.log.Error("open pool", "pool", uuid, "err", err, "retry_in", a.backoff(f.fails))
				continue
			}
			delete(failed, uuid)
		}
		if p.DataBytes != run.recData || p.MetaBytes != run.recMeta {
			if grown, err := a.recordGrown(ctx, run, p); err != nil {
				a.log.Warn("check device sizes", "pool", uuid, "err", err)
			} else if grown {
				// Reopening grows the devices to the record (Prepare) and
				// lets thinpool's adopt reload the pool at the new size.
				a.log.Info("pool grown in the record: reopening", "pool", uuid, "data_bytes", p.DataBytes, "meta_bytes", p.MetaBytes)
				a.closePool(run)
				due(now) // the next step, at once, opens it again
				continue
			}
			run.recData, run.recMeta = p.DataBytes, p.MetaBytes
		}
		if now.Before(run.next) {
			due(run.next)
			continue
		}
		a.drive(ctx, run, p)
		if !run.next.IsZero() && run.next.After(now) {
			due(run.next)
		}
	}
	return wake
}

// drive executes one batch of a pool's queue, or re-reconciles a pool an
// operator unquarantined.
func (a *Agent) drive(ctx context.Context, run *poolRun, p metadata.Pool) {
	if p.State == metadata.PoolQuarantined {
		return // reported; an operator must repair it and lift the quarantine
	}
	if len(run.pool.Quarantined()) > 0 {
		// The record was unquarantined: look again before changing anything.
		if _, err := run.pool.Reconcile(ctx); err != nil {
			a.failed(run, "reconcile after unquarantine", err)
		}
		return
	}
	if err := run.rec.TakeFailure(); err != nil {
		// The retry, after the backoff, reads the replica's queue; the
		// kernel proves how much of it ran.
		a.failed(run, "complete batch", err)
		return
	}
	// At most Pipeline batches outstanding, and a batch read after a failed
	// completion must cover every intent the kernel ran: the end of a
	// completion wakes the loop.
	outstanding, outIntents := run.rec.Outstanding()
	if outstanding == 0 && run.settling {
		run.settling = false
		run.fails, run.next = 0, time.Time{}
		a.setLastErr(run, "")
	}
	room := a.cfg.MaxBatch - outIntents
	if outstanding >= a.cfg.Pipeline || room <= 0 {
		return
	}
	queue := run.rec.Pending()
	if len(queue) == 0 {
		return
	}
	batch := make([]thinpool.Intent, 0, min(len(queue), room))
	for _, in := range queue[:min(len(queue), room)] {
		ti, err := toIntent(in)
		if err != nil {
			a.failed(run, "queue", err)
			return
		}
		batch = append(batch, ti)
	}
	run.rec.startBatch()
	done, err := run.pool.ExecuteBatch(ctx, batch)
	if done > 0 {
		a.log.Debug("batch executed", "pool", p.UUID, "intents", done)
	}
	if errors.Is(err, thinpool.ErrRefused) {
		a.mu.Lock()
		a.stats.Refused++
		a.mu.Unlock()
	}
	switch {
	case err == nil && run.rec.pipelined():
		// Healthy once its completion commits (the next step after it).
		run.settling = true
	case err == nil:
		run.fails, run.next = 0, time.Time{}
		a.setLastErr(run, "")
	case errors.Is(err, thinpool.ErrRefused):
		// thinpool abandoned it through the record; the rest of the queue
		// was renumbered and runs on the next step.
		a.log.Info("intent refused and abandoned", "pool", p.UUID, "err", err)
		run.fails, run.next = 0, time.Time{}
	case errors.Is(err, thinpool.ErrQuarantined):
		a.log.Error("pool quarantined", "pool", p.UUID, "err", err)
	case ctx.Err() != nil:
	default:
		a.failed(run, "execute batch", err)
	}
}

// batchCommitted counts a batch whose completion the cluster committed.
func (a *Agent) batchCommitted(pool string, intents int, took time.Duration) {
	if a.cfg.OnBatch != nil {
		// Before the counters: whoever sees them sees the hook's work.
		a.cfg.OnBatch(pool, intents, took)
	}
	a.mu.Lock()
	a.stats.Batches++
	a.stats.Intents += intents
	a.stats.MaxBatch = max(a.stats.MaxBatch, intents)
	a.mu.Unlock()
}

func (a *Agent) failed(run *poolRun, what string, err error) {
	run.settling = false
	run.fails++
	d := a.backoff(run.fails)
	run.next = time.Now().Add(d)
	a.mu.Lock()
	a.stats.Errors++
	run.lastErr = err.Error()
	a.mu.Unlock()
	a.log.Warn(what, "pool", run.pool.Name(), "err", err, "attempt", run.fails, "retry_in", d)
}

// backoff doubles from RetryMin to RetryMax.
func (a *Agent) backoff(fails int) time.Duration {
	d := a.cfg.RetryMin
	for i := 1; i < fails && d < a.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, a.cfg.RetryMax)
}

func (a *Agent) pool(uuid string) *poolRun {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pools[uuid]
}

// open prepares a pool's devices, opens it (activate and reconcile) and
// starts its autoextend monitor.
func (a *Agent) open(ctx context.Context, p metadata.Pool) (*poolRun, error) {
	metaDev, dataDev, err := a.cfg.Storage.Prepare(ctx, p)
	if err != nil {
		return nil, err
	}
	cfg, err := poolConfig(p, metaDev, dataDev, a.cfg.Pool)
	if err != nil {
		return nil, err
	}
	rec := NewRecord(a.cfg.FSM, a.cfg.Proposer, p.UUID)
	rec.now, rec.timeout, rec.depth = a.cfg.Now, a.cfg.ProposeTimeout, a.cfg.Pipeline
	rec.committed = func(intents int, took time.Duration) { a.batchCommitted(p.UUID, intents, took) }
	rec.wake = func() {
		select {
		case a.completed <- struct{}{}:
		default:
		}
	}
	pool, err := thinpool.Open(ctx, cfg, thinpool.Options{Control: a.cfg.Control, Record: rec, Grower: a.cfg.Storage.Grower(),
		Failpoints: a.cfg.Failpoints, Logger: a.log.With("vg", p.VG, "pool_name", p.Name)})
	if err != nil {
		return nil, err
	}
	rep := pool.LastReconcile()
	a.log.Info("pool open", "pool", p.UUID, "vg", p.VG, "name", p.Name, "kernel_txn", rep.KernelTxn,
		"record_txn", rep.RecordTxn, "actions", rep.Actions, "findings", len(rep.Findings))
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	run := &poolRun{pool: pool, rec: rec, stop: stop, monitored: make(chan struct{}), recData: p.DataBytes, recMeta: p.MetaBytes}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(run.monitored)
		pool.Monitor(mctx, a.cfg.MonitorInterval)
	}()
	a.mu.Lock()
	a.pools[p.UUID] = run
	a.mu.Unlock()
	return run, nil
}

// recordGrown tells whether the record's device sizes exceed the devices'
// (an operator's pool_grow).
func (a *Agent) recordGrown(ctx context.Context, run *poolRun, p metadata.Pool) (bool, error) {
	cfg := run.pool.Config()
	gr := a.cfg.Storage.Grower()
	data, err := gr.Size(ctx, cfg.DataDev)
	if err != nil {
		return false, err
	}
	meta, err := gr.Size(ctx, cfg.MetadataDev)
	if err != nil {
		return false, err
	}
	return uint64(data) < p.DataBytes || uint64(meta) < p.MetaBytes, nil
}

// closePool forgets an open pool after its monitor has stopped, so no
// autoextend of the old Pool races the next Open; its devices stay.
func (a *Agent) closePool(run *poolRun) {
	run.stop()
	<-run.monitored
	// The next Open's reconcile must read a record no completion of this
	// one is still moving.
	_ = run.rec.waitIdle(context.Background())
	a.mu.Lock()
	if a.pools[run.pool.Name()] == run {
		delete(a.pools, run.pool.Name())
	}
	a.mu.Unlock()
}

// closeRemoved stops and deactivates pools the node no longer owns.
func (a *Agent) closeRemoved(ctx context.Context, mine map[string]metadata.Pool) {
	a.mu.Lock()
	var gone []*poolRun
	for uuid, run := range a.pools {
		if _, ok := mine[uuid]; !ok {
			gone = append(gone, run)
			delete(a.pools, uuid)
		}
	}
	a.mu.Unlock()
	for _, run := range gone {
		run.stop()
		_ = run.rec.waitIdle(ctx)
		if err := run.pool.Deactivate(ctx); err != nil {
			a.log.Warn("deactivate a removed pool", "pool", run.pool.Name(), "err", err)
		} else {
			a.log.Info("pool removed from the record: deactivated", "pool", run.pool.Name())
		}
	}
}

// closeAll stops every monitor and forgets the pools; devices stay.
func (a *Agent) closeAll() {
	a.mu.Lock()
	var runs []*poolRun
	for uuid, run := range a.pools {
		run.stop()
		runs = append(runs, run)
		delete(a.pools, uuid)
	}
	a.mu.Unlock()
	// Outstanding completions land (each bounded by ProposeTimeout), so a
	// stop between batches leaves the record where the kernel is.
	for _, run := range runs {
		_ = run.rec.waitIdle(context.Background())
	}
	a.wg.Wait()
}

// propose sends one of the agent's own reports, bounded by ProposeTimeout.
func (a *Agent) propose(ctx context.Context, typ metadata.CommandType, payload any) (*metadata.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ProposeTimeout)
	defer cancel()
	return propose(ctx, a.cfg.FSM, a.cfg.Proposer, a.cfg.Now(), typ, payload)
}

// runs returns the open pools.
func (a *Agent) runs() []*poolRun {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*poolRun, 0, len(a.pools))
	for _, r := range a.pools {
		out = append(out, r)
	}
	return out
}

func (a *Agent) setLastErr(run *poolRun, msg string) {
	a.mu.Lock()
	run.lastErr = msg
	a.mu.Unlock()
}

// PoolStatus is the agent's view of one pool it has open, for health
// reports and the API.
type PoolStatus struct {
	UUID string
	// Quarantined are the findings that keep thinpool refusing changes.
	Quarantined []thinpool.Finding
	// LastError is the latest failed attempt, "" after a success.
	LastError string
}

// Pools returns the status of every open pool, by uuid.
func (a *Agent) Pools() []PoolStatus {
	runs := a.runs()
	out := make([]PoolStatus, 0, len(runs))
	for _, r := range runs {
		a.mu.Lock()
		msg := r.lastErr
		a.mu.Unlock()
		out = append(out, PoolStatus{UUID: r.pool.Name(), Quarantined: r.pool.Quarantined(), LastError: msg})
	}
	slices.SortFunc(out, func(x, y PoolStatus) int { return strings.Compare(x.UUID, y.UUID) })
	return out
}
