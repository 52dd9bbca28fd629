package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
)

// opStages splits one operation's latency by the timestamps of its
// intents: CreatedAt is the leader's clock when its API handler built the
// command (before the first Raft commit), FinishedAt the pool agent's clock
// when it proposed the completion (after the engine committed the batch).
type opStages struct {
	// arrive: scheduled arrival (or call) to the leader's handler: the
	// dispatcher's lag, HTTPS, and the follower's forward hop if any.
	arrive time.Duration
	// execute: the first Raft commit, the pool node's replica learning it,
	// the agent's wake-up and batch, the engine's commit.
	execute time.Duration
	// complete: the completion's trip to the leader (a hop when the pool
	// is on a follower), the second Raft commit, the leader FSM's apply,
	// the ?wait wake-up and the answer's way back (through the forwarder).
	complete     time.Duration
	poolOnLeader bool
}

func stagesOf(op *api.Operation, at, end time.Time, leader, poolNode string) *opStages {
	if op == nil || len(op.Intents) == 0 {
		return nil
	}
	c, f := op.Intents[0].CreatedAt, op.Intents[len(op.Intents)-1].FinishedAt
	if c.IsZero() || f.IsZero() {
		return nil
	}
	return &opStages{arrive: c.Sub(at), execute: f.Sub(c), complete: end.Sub(f), poolOnLeader: poolNode != "" && poolNode == leader}
}

// stageReport is the distribution of each stage, over all operations and
// split by whether the operation's pool is on the leader (no hop for the
// commit to reach the agent, none for the completion).
type stageReport struct {
	Note           string     `json:"note"`
	All            stageDists `json:"all"`
	PoolOnLeader   stageDists `json:"pool_on_leader"`
	PoolOnFollower stageDists `json:"pool_on_follower"`
}

type stageDists struct {
	Arrive   dist `json:"arrive"`
	Execute  dist `json:"execute"`
	Complete dist `json:"complete"`
}

func stageDistsOf(samples []sample) stageReport {
	pick := func(keep func(*opStages) bool) stageDists {
		var a, e, c []time.Duration
		for _, s := range samples {
			if s.stages != nil && keep(s.stages) {
				a, e, c = append(a, s.stages.arrive), append(e, s.stages.execute), append(c, s.stages.complete)
			}
		}
		return stageDists{Arrive: durDist(a), Execute: durDist(e), Complete: durDist(c)}
	}
	return stageReport{
		Note: "arrive = scheduled arrival to the leader's API handler (incl. forward hop); execute = first Raft commit + the pool node learning it + agent batch + engine commit; " +
			"complete = completion to the leader + second Raft commit + ?wait wake-up + answer back (incl. forwarder); timestamps from the intents (one machine, one clock)",
		All:            pick(func(*opStages) bool { return true }),
		PoolOnLeader:   pick(func(s *opStages) bool { return s.poolOnLeader }),
		PoolOnFollower: pick(func(s *opStages) bool { return !s.poolOnLeader }),
	}
}

// durDist is the distribution of ds in milliseconds.
func durDist(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	q := func(p float64) float64 { return ms(ds[min(len(ds)-1, int(p*float64(len(ds))))]) }
	return dist{N: len(ds), MeanMs: ms(sum / time.Duration(len(ds))), P50Ms: q(0.50), P90Ms: q(0.90), P99Ms: q(0.99), MaxMs: ms(ds[len(ds)-1])}
}

// writeSamples writes one row per arrival: its scheduled offset from the
// run's start (and as a Unix time, to line up with the nodes' logs), its latency and stages (ms), and whether its pool was on the
// leader. Read it to see whether a tail is periodic (a checkpoint, a
// report, GC) or a backlog.
func writeSamples(path string, start time.Time, interval time.Duration, samples []sample) error {
	var b strings.Builder
	b.WriteString("k,at_ms,unix_ms,op,latency_ms,arrive_ms,execute_ms,complete_ms,pool_on_leader\n")
	msf := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }
	for k, s := range samples {
		at := time.Duration(k) * interval
		fmt.Fprintf(&b, "%d,%s,%d,%s,%s", k, msf(at), start.Add(at).UnixMilli(), s.op, msf(s.lat))
		if st := s.stages; st != nil {
			fmt.Fprintf(&b, ",%s,%s,%s,%t\n", msf(st.arrive), msf(st.execute), msf(st.complete), st.poolOnLeader)
		} else {
			b.WriteString(",,,,\n")
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
