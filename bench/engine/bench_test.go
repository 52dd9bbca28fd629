package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{
		{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, c := range cases {
		in := append([]float64(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("median reordered its argument")
			}
		}
	}
}

func TestReportRatioAndGoals(t *testing.T) {
	res := map[string]*sideResults{}
	for _, n := range patternNames {
		// plain 1 s, thin 2 s: ratio 0.5, which meets only the cow goal.
		res[n] = &sideResults{
			Plain: []timing{{Bytes: 1 << 20, Ops: 256, Elapsed: time.Second}},
			Thin:  []timing{{Bytes: 1 << 20, Ops: 256, Elapsed: 2 * time.Second}},
		}
	}
	r := newReport(params{}, []modeResults{{cache: "warm", res: res}}, "ext4", time.Second)
	if r.AllGoals || r.HeadlineGoals {
		t.Fatal("all goals met with ratio 0.5")
	}
	for _, p := range r.Results {
		if p.Ratio != 0.5 || p.PairedMedian != 0.5 || len(p.PairedRatios) != 1 || p.Plain.MedianMiBs != 1 || p.Thin.MedianIOPS != 128 || p.IOBytes != 4096 {
			t.Fatalf("%s: %+v", p.Name, p)
		}
		if want := strings.HasPrefix(p.Name, "cow/"); p.MeetsGoal != want {
			t.Fatalf("%s: meets goal %v", p.Name, p.MeetsGoal)
		}
	}
	var b bytes.Buffer
	r.printTable(&b)
	if !strings.Contains(b.String(), "BELOW GOAL") || strings.Count(b.String(), "\n") != len(patternNames)+2 {
		t.Fatalf("table:\n%s", b.String())
	}
}

// TestBenchSmoke runs the whole harness small: every pattern on both
// sides, with its read-back and snapshot checks, and the JSON output.
func TestBenchSmoke(t *testing.T) {
	dir := t.TempDir()
	p := params{DeviceBytes: 4 << 20, BlockBytes: 64 << 10, RandOps: 200, RandIOBytes: 4 << 10,
		SeqIOBytes: 1 << 20, Reps: 2, Seed: 7, ZeroNew: true, Provision: provWritten}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log bytes.Buffer
	res, err := bench(ctx, dir, p, "cold", &log)
	if err != nil {
		t.Fatal(err)
	}
	warm, err := bench(ctx, dir, p, "warm", &log)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range patternNames {
		sr := res[n]
		if len(sr.Plain) != p.Reps || len(sr.Thin) != p.Reps {
			t.Fatalf("%s: %d plain, %d thin runs", n, len(sr.Plain), len(sr.Thin))
		}
		for _, tm := range append(sr.Plain, sr.Thin...) {
			if tm.Elapsed <= 0 || tm.Bytes <= 0 || tm.Ops <= 0 {
				t.Fatalf("%s: timing %+v", n, tm)
			}
		}
	}
	out := filepath.Join(dir, "engine.json")
	if err := newReport(p, []modeResults{{"cold", res}, {"warm", warm}}, "ext4", time.Second).write(out); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 2*len(patternNames) || back.Results[0].Cache != "cold" || back.Params.DeviceBytes != p.DeviceBytes || back.GoVersion == "" {
		t.Fatalf("json: %s", raw)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("scratch left behind: %v", entries)
	}
}

// TestHeadlineGoals: the headline verdict looks at the warm regime only,
// and is false when warm was not run.
func TestHeadlineGoals(t *testing.T) {
	mk := func(thin time.Duration) map[string]*sideResults {
		res := map[string]*sideResults{}
		for _, n := range patternNames {
			res[n] = &sideResults{
				Plain: []timing{{Bytes: 1 << 20, Ops: 1, Elapsed: time.Second}},
				Thin:  []timing{{Bytes: 1 << 20, Ops: 1, Elapsed: thin}},
			}
		}
		return res
	}
	fast, slow := mk(time.Second), mk(10*time.Second)
	r := newReport(params{}, []modeResults{{"warm", fast}, {"cold", slow}}, "ext4", time.Second)
	if !r.HeadlineGoals || r.AllGoals || r.Headline != "warm" {
		t.Fatalf("warm fast, cold slow: headline %v, all %v", r.HeadlineGoals, r.AllGoals)
	}
	r = newReport(params{}, []modeResults{{"warm", slow}, {"cold", fast}}, "ext4", time.Second)
	if r.HeadlineGoals || r.AllGoals {
		t.Fatalf("warm slow: headline %v, all %v", r.HeadlineGoals, r.AllGoals)
	}
	r = newReport(params{}, []modeResults{{"cold", fast}}, "ext4", time.Second)
	if r.HeadlineGoals || !r.AllGoals {
		t.Fatalf("cold only: headline %v, all %v", r.HeadlineGoals, r.AllGoals)
	}
}
