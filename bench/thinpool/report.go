package thinpool

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"
)

// Rate is one measured operation: N operations in Seconds.
type Rate struct {
	Op      string  `json:"op"`
	N       int     `json:"n"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"ops_per_sec"`
	// MsPerOp is the mean latency.
	MsPerOp float64 `json:"ms_per_op"`
}

func newRate(op string, n int, d time.Duration) Rate {
	s := d.Seconds()
	return Rate{Op: op, N: n, Seconds: s, PerSec: float64(n) / s, MsPerOp: 1000 * s / float64(n)}
}

// Side is one implementation's rates (thinraft on an engine, or LVM).
type Side struct {
	Engine string `json:"engine"`
	Kernel string `json:"kernel,omitempty"`
	Rates  []Rate `json:"rates"`
}

func (s Side) rate(op string) (Rate, bool) {
	for _, r := range s.Rates {
		if r.Op == op {
			return r, true
		}
	}
	return Rate{}, false
}

// Ratio compares thinraft's rate with LVM's for one op in the same VM.
type Ratio struct {
	Op       string  `json:"op"`
	Thinraft float64 `json:"thinraft_ops_per_sec"`
	LVM      float64 `json:"lvm_ops_per_sec"`
	Ratio    float64 `json:"ratio"`
	Goal     float64 `json:"goal"`
	Met      bool    `json:"met"`
}

// Report is bench/results/thinpool.json.
type Report struct {
	Date      string  `json:"date"`
	GoVersion string  `json:"go_version"`
	CPUs      int     `json:"cpus"`
	Note      string  `json:"note"`
	Engine    *Side   `json:"engine,omitempty"`
	Kernel    *Side   `json:"kernel,omitempty"`
	LVM       *Side   `json:"lvm,omitempty"`
	Ratios    []Ratio `json:"kernel_vs_lvm,omitempty"`
	// NBD is throughput through the NBD export vs the same volume accessed
	// directly, on the userspace engine.
	NBD []NBDResult `json:"nbd,omitempty"`
}

// NBDResult is NBD throughput against direct access to the same volume.
type NBDResult struct {
	Pattern     string  `json:"pattern"`
	DirectMiBs  float64 `json:"direct_mib_s"`
	NBDMiBs     float64 `json:"nbd_mib_s"`
	Ratio       float64 `json:"ratio"`
	Description string  `json:"description"`
}

// LVMGoal is the goal: thinraft at least 50x LVM's rate.
const LVMGoal = 50

// computeRatios fills Ratios from Kernel and LVM.
func (r *Report) computeRatios() {
	r.Ratios = nil
	if r.Kernel == nil || r.LVM == nil {
		return
	}
	for _, op := range []string{"create", "snapshot", "delete"} {
		k, ok1 := r.Kernel.rate(op)
		l, ok2 := r.LVM.rate(op)
		if !ok1 || !ok2 || l.PerSec == 0 {
			continue
		}
		ratio := k.PerSec / l.PerSec
		r.Ratios = append(r.Ratios, Ratio{Op: op, Thinraft: k.PerSec, LVM: l.PerSec, Ratio: ratio, Goal: LVMGoal, Met: ratio >= LVMGoal})
	}
	sort.Slice(r.Ratios, func(i, j int) bool { return r.Ratios[i].Op < r.Ratios[j].Op })
}

func newReport() *Report {
	return &Report{
		Date:      time.Now().UTC().Format(time.RFC3339),
		GoVersion: runtime.Version(),
		CPUs:      runtime.NumCPU(),
		Note: "thinraft rates go through thinpool's transaction protocol (status check, message, " +
			"set_transaction_id, durable record writes); LVM rates are lvcreate -V -T, lvcreate -s and " +
			"lvremove -f on a thin pool of the same chunk size in the same VM. Kernel and LVM run under " +
			"qemu TCG: compare ratios, not absolute times.",
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func (r *Report) table() string {
	s := ""
	for _, side := range []*Side{r.Engine, r.Kernel, r.LVM} {
		if side == nil {
			continue
		}
		for _, rt := range side.Rates {
			s += fmt.Sprintf("%-8s %-9s %6d ops  %9.1f ops/s  %8.2f ms/op\n", side.Engine, rt.Op, rt.N, rt.PerSec, rt.MsPerOp)
		}
	}
	for _, x := range r.NBD {
		s += fmt.Sprintf("nbd %-14s direct %8.1f MiB/s  nbd %8.1f MiB/s  ratio %.2f\n", x.Pattern, x.DirectMiBs, x.NBDMiBs, x.Ratio)
	}
	for _, x := range r.Ratios {
		s += fmt.Sprintf("kernel/LVM %-9s ratio %7.1fx (goal %dx) met=%v\n", x.Op, x.Ratio, LVMGoal, x.Met)
	}
	return s
}
