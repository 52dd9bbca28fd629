package agent

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// periodic reconciles and reports on their timers until ctx ends. It runs
// on its own goroutine, not the batch loop's: at 100,000 volumes a round of
// usage reports takes ~300 ms and a reconcile of a pool reads every thin
// device, and inline they held up every pool's batches for as long (the
// cluster bench's tail). thinpool serialises what must be (Reconcile and
// ExecuteBatch share the pool's lock); a report reads a metadata snapshot
// and the record, and proposes.
//
// The first round of each comes at a random point of its interval: nodes
// started together (a cluster's first boot, the bench) would otherwise
// report and reconcile in the same instant, every interval, and at 100,000
// volumes three nodes each spending ~300 ms of CPU at once on a shared
// machine stalled every operation for as long.
func (a *Agent) periodic(ctx context.Context) {
	reconcile := time.NewTimer(jitter(a.cfg.ReconcileInterval))
	defer reconcile.Stop()
	report := time.NewTimer(jitter(a.cfg.ReportInterval))
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reconcile.C:
			a.reconcileAll(ctx)
			reconcile.Reset(a.cfg.ReconcileInterval)
		case <-report.C:
			a.reportAll(ctx)
			report.Reset(a.cfg.ReportInterval)
		}
	}
}

// jitter is a random duration in [d/2, d]: the first round's delay.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// reconcileAll compares every idle pool's kernel state with the record.
// Pools with a queue are left to the batch executor (which checks the
// kernel's transaction id itself), and quarantined ones to the operator.
func (a *Agent) reconcileAll(ctx context.Context) {
	for _, run := range a.runs() {
		if ctx.Err() != nil {
			return
		}
		uuid := run.pool.Name()
		p, ok := a.recordPool(uuid)
		if !ok || p.State == metadata.PoolQuarantined || len(a.cfg.FSM.PendingIntents(uuid)) > 0 {
			continue
		}
		start := time.Now()
		rep, err := run.pool.Reconcile(ctx)
		if err != nil {
			a.log.Warn("periodic reconcile", "pool", uuid, "err", err)
			continue
		}
		if len(rep.Actions) > 0 || len(rep.Findings) > 0 {
			a.log.Info("periodic reconcile", "pool", uuid, "actions", rep.Actions, "findings", len(rep.Findings), "took", time.Since(start))
		} else {
			a.log.Debug("periodic reconcile", "pool", uuid, "took", time.Since(start))
		}
	}
}

// reportAll sends one usage report per pool and records backing devices
// autoextend has grown. Errors are logged: the next interval reports again.
func (a *Agent) reportAll(ctx context.Context) {
	for _, run := range a.runs() {
		if ctx.Err() != nil {
			return
		}
		start := time.Now()
		if err := a.report(ctx, run); err != nil {
			a.log.Warn("usage report", "pool", run.pool.Name(), "err", err)
			continue
		}
		a.log.Debug("usage report", "pool", run.pool.Name(), "took", time.Since(start))
	}
}

// ReportNow sends every pool's usage and growth report at once (what the
// report timer does), for the node's shutdown path and tests.
func (a *Agent) ReportNow(ctx context.Context) { a.reportAll(ctx) }
