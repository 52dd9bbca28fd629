package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// reportLog records the usage reports an agent proposes.
type reportLog struct {
	Proposer
	mu   sync.Mutex
	reps []metadata.PoolReportUsage
}

func (l *reportLog) Propose(ctx context.Context, cmd metadata.Command) (*metadata.Result, error) {
	if cmd.Type == metadata.CmdPoolReportUsage {
		var rep metadata.PoolReportUsage
		if err := json.Unmarshal(cmd.Payload, &rep); err != nil {
			return nil, err
		}
		l.mu.Lock()
		l.reps = append(l.reps, rep)
		l.mu.Unlock()
	}
	return l.Proposer.Propose(ctx, cmd)
}

// last returns the uuids the last report named, sorted, and the number of
// reports so far.
func (l *reportLog) last() ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.reps) == 0 {
		return nil, 0
	}
	var ids []string
	for _, v := range l.reps[len(l.reps)-1].Volumes {
		ids = append(ids, v.UUID)
	}
	slices.Sort(ids)
	return ids, len(l.reps)
}

// TestReportNamesChangedVolumes: a usage report names only the volumes
// whose figures or open flag differ from the record, and the record ends
// up with every volume's figures.
func TestReportNamesChangedVolumes(t *testing.T) {
	c := newTestCluster(t, 1)
	pool := c.addPool(0, "rep", 64*mib, 4*mib)
	log := &reportLog{Proposer: c}
	r := newAgentRig(t, c, 0, func(cfg *Config) {
		log.Proposer = cfg.Proposer
		cfg.Proposer = log
		cfg.ReportInterval = time.Hour // only ReportNow reports
	})
	r.start()
	a := c.createVolume("a", pool, 16*mib)
	b := c.createVolume("b", pool, 16*mib)
	r.waitDrained(pool, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }

	steps := []struct {
		name  string
		write string // volume to write 1 MiB to first ("" none)
		want  []string
	}{
		{"first write to a", a, []string{a}},
		{"nothing changed", "", nil},
		{"write to b", b, []string{b}},
		{"a grows", a, []string{a}},
	}
	off := map[string]int64{}
	for _, st := range steps {
		if st.write != "" {
			writeAt(t, r, ctx, st.write, bytes.Repeat([]byte{7}, mib), off[st.write])
			off[st.write] += mib
		}
		_, before := log.last()
		r.a.ReportNow(ctx)
		got, n := log.last()
		if n != before+1 {
			t.Fatalf("%s: %d reports, want %d", st.name, n, before+1)
		}
		if !slices.Equal(got, sorted(st.want...)) {
			t.Fatalf("%s: report named %v, want %v (a=%s b=%s)", st.name, got, st.want, a, b)
		}
	}
	for vol, want := range map[string]uint64{a: 2 * mib, b: mib} {
		v, _ := c.fsms[0].Volume(vol)
		if v.ExclusiveBytes != want {
			t.Errorf("volume %s: exclusive %d, want %d", vol, v.ExclusiveBytes, want)
		}
	}
}
