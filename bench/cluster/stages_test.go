package main

import (
	"os"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/metadata"
)

func TestDurDist(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []time.Duration
		want dist
	}{
		{"empty", nil, dist{}},
		{"one", []time.Duration{3 * time.Millisecond}, dist{N: 1, MeanMs: 3, P50Ms: 3, P90Ms: 3, P99Ms: 3, MaxMs: 3}},
		// 1..100 ms shuffled: the p-th percentile is the value at index
		// p*n, so p50 = 51 ms, p90 = 91, p99 = 100.
		{"hundred", func() []time.Duration {
			var ds []time.Duration
			for i := 100; i >= 1; i-- {
				ds = append(ds, time.Duration(i)*time.Millisecond)
			}
			return ds
		}(), dist{N: 100, MeanMs: 50.5, P50Ms: 51, P90Ms: 91, P99Ms: 100, MaxMs: 100}},
	} {
		if got := durDist(c.in); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestStagesOf(t *testing.T) {
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return at.Add(time.Duration(n) * time.Millisecond) }
	op := &api.Operation{Intents: []metadata.Intent{{CreatedAt: ms(2), FinishedAt: ms(12)}}}
	s := stagesOf(op, at, ms(15), "n1", "n1")
	if s == nil || s.arrive != 2*time.Millisecond || s.execute != 10*time.Millisecond || s.complete != 3*time.Millisecond || !s.poolOnLeader {
		t.Fatalf("stages %+v", s)
	}
	if s := stagesOf(op, at, ms(15), "n1", "n2"); s == nil || s.poolOnLeader {
		t.Fatalf("pool on n2, leader n1: %+v", s)
	}
	// An operation without finished intents has no stages (not zeros).
	unfinished := &api.Operation{Intents: []metadata.Intent{{CreatedAt: ms(2)}}}
	for _, o := range []*api.Operation{nil, {}, unfinished} {
		if s := stagesOf(o, at, ms(15), "n1", "n1"); s != nil {
			t.Errorf("stagesOf(%+v) = %+v, want nil", o, s)
		}
	}
}

func TestCostOf(t *testing.T) {
	t0 := time.Now()
	a := cpuSample{nodes: time.Second, self: time.Second, busy: 100, total: 400, at: t0}
	b := cpuSample{nodes: 3 * time.Second, self: 1500 * time.Millisecond, busy: 400, total: 800, at: t0.Add(2 * time.Second)}
	got := costOf(a, b, 1000)
	want := cpuCost{NodesMsPerOp: 2, SelfMsPerOp: 0.5, Cores: 1.25, MachineBusy: 0.75}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got := costOf(a, b, 0); got != (cpuCost{}) {
		t.Fatalf("no ops: %+v", got)
	}
}

func TestProcCPUSelf(t *testing.T) {
	// Reading this process's own stat must parse (a command name with
	// spaces or parentheses is what the last-')' split is for).
	var c cpuClock
	if _, err := c.read(); err != nil {
		t.Fatal(err)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
