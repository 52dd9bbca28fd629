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

// openResult is the fixed-rate (open-loop) run of one level: operations
// arrive on a schedule whatever the cluster answers, and each one's latency
// runs from its scheduled arrival, so a slow answer delays no later arrival
// and queueing is counted (no coordinated omission).
type openResult struct {
	TargetOpsPerS float64 `json:"target_ops_per_s"`
	Warmup        int     `json:"warmup_ops_not_counted"`
	Ops           int     `json:"ops"`
	// OfferedOpsPerS is the arrival rate the dispatcher kept (ops over the
	// span of their scheduled arrivals); CompletedOpsPerS is ops over
	// first arrival to last answer (a little under offered: the last
	// answer's latency is in the span).
	OfferedOpsPerS   float64 `json:"offered_ops_per_s"`
	CompletedOpsPerS float64 `json:"completed_ops_per_s"`
	// MaxDispatchLagMs: how late the dispatcher started a call after its
	// scheduled time at worst (counted in that call's latency).
	MaxDispatchLagMs float64 `json:"max_dispatch_lag_ms"`
	MaxInFlight      int     `json:"max_in_flight"`
	// Workers is the number of concurrent callers; Waited counts counted
	// arrivals that found them all busy (their wait is in their latency).
	Workers  int  `json:"workers"`
	Waited   int  `json:"arrivals_that_waited_for_a_worker"`
	All      dist `json:"latency_all"`
	Create   dist `json:"latency_create"`
	Snapshot dist `json:"latency_snapshot"`
	// Stages splits every operation by the timestamps its intent carries
	// (stages.go); one clock, since all nodes run on this machine.
	Stages stageReport `json:"stages"`
	// CPU is from the first counted arrival to the last answer.
	CPU cpuCost `json:"cpu"`
}

// connsPerClient is how many connections each client opens before the open
// loop, and how many of its calls may be in flight at once.
const connsPerClient = 8

// openLoop offers warmup+n operations at rate per second, alternating a
// create of a new volume and a snapshot of one of origins (volumes whose
// create is done), each call with ?wait, spread over all clients. leader
// and poolNode (pool name -> node id) label the stages.
func (l *load) openLoop(ctx context.Context, rate float64, warmup, n int, origins []string, tag string, leader string, poolNode map[string]string, clock cpuClock) (*openResult, error) {
	if rate <= 0 || n <= 0 || len(origins) == 0 {
		return nil, fmt.Errorf("open loop: rate %.0f, %d ops, %d origins", rate, n, len(origins))
	}
	total := warmup + n
	interval := time.Duration(float64(time.Second) / rate)
	samples := make([]sample, total)
	errs := make([]error, total)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inFlight int
		maxIn    int
		lastDone time.Time
		maxLag   time.Duration
	)
	wait := client.Wait(l.wait)
	call := func(k int, cl *client.Client, at time.Time) {
		defer wg.Done()
		pool := l.pools[(k/2)%len(l.pools)]
		var (
			r   *api.VolumeResponse
			err error
			op  string
		)
		if k%2 == 0 {
			op = "create"
			r, err = cl.CreateVolume(ctx, l.vg, api.VolumeCreateRequest{Name: fmt.Sprintf("%s-%d", tag, k), Pool: pool, SizeBytes: l.size}, wait)
		} else {
			op = "snapshot"
			origin := origins[(k/2)%len(origins)]
			r, err = cl.CreateSnapshot(ctx, l.vg, origin, api.SnapshotCreateRequest{Name: fmt.Sprintf("%s-%d-s", tag, k)}, wait)
		}
		end := time.Now()
		if err == nil && (r.Operation == nil || r.Operation.State != api.OpDone) {
			err = fmt.Errorf("operation not done after ?wait: %+v", r.Operation)
		}
		mu.Lock()
		inFlight--
		if end.After(lastDone) {
			lastDone = end
		}
		mu.Unlock()
		if err != nil {
			errs[k] = fmt.Errorf("open loop %s %s-%d: %w", op, tag, k, err)
			return
		}
		s := sample{op: op, lat: end.Sub(at)}
		if r.Volume != nil {
			s.stages = stagesOf(r.Operation, at, end, leader, poolNode[r.Volume.Pool])
		}
		samples[k] = s
	}
	if err := l.warmConns(ctx, connsPerClient); err != nil {
		return nil, err
	}
	// A fixed pool of workers, connsPerClient per client (the connections
	// just opened), takes the arrivals. Only when all are busy (hundreds of
	// calls in flight, far past the goal) does an arrival wait for one; its
	// latency still runs from its scheduled time, and Waited counts them.
	// Without the cap, a backlog would open a TLS connection per call and
	// the handshakes would swamp the cluster the bench measures.
	type arrival struct {
		k  int
		at time.Time
	}
	queue := make(chan arrival, total)
	var idle atomic.Int64
	for w := range len(l.clients) * connsPerClient {
		cl := l.clients[w%len(l.clients)]
		idle.Add(1)
		go func() {
			for a := range queue {
				idle.Add(-1)
				call(a.k, cl, a.at)
				idle.Add(1)
			}
		}()
	}
	defer close(queue)
	start := time.Now().Add(time.Millisecond)
	var (
		countFrom time.Time
		c0        cpuSample
		cerr      error
	)
	waited := 0
	for k := range total {
		at := start.Add(time.Duration(k) * interval)
		if k == warmup {
			countFrom = at
			c0, cerr = clock.read()
		}
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		maxLag = max(maxLag, time.Since(at))
		mu.Lock()
		inFlight++
		maxIn = max(maxIn, inFlight)
		mu.Unlock()
		if idle.Load() <= 0 && k >= warmup {
			waited++
		}
		wg.Add(1)
		queue <- arrival{k, at}
	}
	lastArrival := start.Add(time.Duration(total-1) * interval)
	wg.Wait()
	c1, err := clock.read()
	if cerr != nil || err != nil {
		return nil, fmt.Errorf("open loop: cpu time: %v %v", cerr, err)
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	counted := samples[warmup:]
	if l.samplesTo != "" {
		if err := writeSamples(fmt.Sprintf("%s.%s.csv", l.samplesTo, tag), start, interval, samples); err != nil {
			return nil, err
		}
	}
	res := &openResult{TargetOpsPerS: rate, Warmup: warmup, Ops: len(counted),
		MaxDispatchLagMs: ms(maxLag), MaxInFlight: maxIn, Workers: len(l.clients) * connsPerClient, Waited: waited,
		All: distOf(counted, ""), Create: distOf(counted, "create"), Snapshot: distOf(counted, "snapshot"),
		Stages: stageDistsOf(counted), CPU: costOf(c0, c1, len(counted))}
	if span := lastArrival.Sub(countFrom); span > 0 && len(counted) > 1 {
		res.OfferedOpsPerS = float64(len(counted)-1) / span.Seconds()
	}
	if span := lastDone.Sub(countFrom); span > 0 {
		res.CompletedOpsPerS = float64(len(counted)) / span.Seconds()
	}
	return res, nil
}

// warmConns opens per concurrent connections in every client's pool, as a
// long-lived client of the API would hold them, so the timed arrivals do
// not pay TLS handshakes that a burst above the pool's idle connections
// would add (the transport keeps up to 16 idle per host).
func (l *load) warmConns(ctx context.Context, per int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(l.clients)*per)
	for i, cl := range l.clients {
		for j := range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := cl.Cluster(ctx); err != nil {
					errs[i*per+j] = fmt.Errorf("warm connections: %w", err)
				}
			}()
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
