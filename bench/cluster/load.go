package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
)

// load drives the cluster with one client per worker.
type load struct {
	clients []*client.Client
	vg      string
	pools   []string
	size    uint64
	wait    time.Duration
	// samplesTo, if set, receives each open-loop run's samples as CSV
	// (-samples): the time series that shows when a tail happened.
	samplesTo string
}

// fill creates volumes until the VG holds target, with every worker
// creating without waiting (the agents batch the queue), then waits for
// each worker's last operation, and returns how many it created.
func (l *load) fill(ctx context.Context, have, target int, tag string) (int, error) {
	need := target - have
	if need <= 0 {
		return 0, nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(l.clients))
	for w, cl := range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last string
			for {
				i := next.Add(1) - 1
				if i >= int64(need) {
					break
				}
				r, err := cl.CreateVolume(ctx, l.vg, api.VolumeCreateRequest{
					Name: fmt.Sprintf("%s-%d", tag, i), Pool: l.pools[int(i)%len(l.pools)], SizeBytes: l.size})
				if err != nil {
					errs[w] = fmt.Errorf("fill create %s-%d: %w", tag, i, err)
					return
				}
				if r.Operation != nil {
					last = r.Operation.ID
				}
			}
			if last != "" {
				if _, err := cl.WaitOperation(ctx, last); err != nil {
					errs[w] = fmt.Errorf("fill wait: %w", err)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return need, nil
}

// sample is one timed call.
type sample struct {
	op     string
	lat    time.Duration
	stages *opStages // open loop only
}

// measure runs pairs create+snapshot pairs over the first nClients
// workers, each call
// with ?wait, and returns every call's latency and the wall time.
func (l *load) measure(ctx context.Context, nClients, pairs int, tag string) ([]sample, time.Duration, error) {
	clients := l.clients[:min(nClients, len(l.clients))]
	var next atomic.Int64
	var wg sync.WaitGroup
	per := make([][]sample, len(clients))
	errs := make([]error, len(clients))
	wait := client.Wait(l.wait)
	done := func(r *api.VolumeResponse) error {
		if r.Operation == nil || r.Operation.State != api.OpDone {
			return fmt.Errorf("operation not done after ?wait: %+v", r.Operation)
		}
		return nil
	}
	start := time.Now()
	for w, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(pairs) {
					return
				}
				name := fmt.Sprintf("%s-%d", tag, i)
				t0 := time.Now()
				r, err := cl.CreateVolume(ctx, l.vg, api.VolumeCreateRequest{Name: name, Pool: l.pools[int(i)%len(l.pools)], SizeBytes: l.size}, wait)
				if err == nil {
					err = done(r)
				}
				if err != nil {
					errs[w] = fmt.Errorf("create %s: %w", name, err)
					return
				}
				t1 := time.Now()
				r, err = cl.CreateSnapshot(ctx, l.vg, name, api.SnapshotCreateRequest{Name: name + "-s"}, wait)
				if err == nil {
					err = done(r)
				}
				if err != nil {
					errs[w] = fmt.Errorf("snapshot %s: %w", name, err)
					return
				}
				t2 := time.Now()
				per[w] = append(per[w], sample{"create", t1.Sub(t0), nil}, sample{"snapshot", t2.Sub(t1), nil})
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	var all []sample
	for _, s := range per {
		all = append(all, s...)
	}
	return all, elapsed, nil
}

// dist is a latency distribution in milliseconds.
type dist struct {
	N      int     `json:"n"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func distOf(samples []sample, op string) dist {
	var ds []time.Duration
	for _, s := range samples {
		if op == "" || s.op == op {
			ds = append(ds, s.lat)
		}
	}
	return durDist(ds)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
