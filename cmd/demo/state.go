package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// lvFields are what the checks read from lvs: LVM's names plus thinraft's
// node and usage fields (docs/reports.md), sizes in bytes.
const lvFields = "lv_name,lv_attr,lv_size,pool_lv,origin,data_percent,node,exclusive_bytes,shared_bytes"

// lvs reads the LVs of the demo's VG through `thinraft lvs --reportformat
// json`, LVM's shape, by name.
func (d *demo) lvs(ctx context.Context) (map[string]row, error) {
	r, err := d.sh.quiet(ctx, "lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", lvFields, vg)
	if err != nil {
		return nil, err
	}
	rows, err := parseReport(r.stdout, "lv")
	if err != nil {
		return nil, fmt.Errorf("$ %s: %w", r.line, err)
	}
	return byName(rows, "lv_name"), nil
}

// pvs reads the nodes as LVM physical volumes, by node name.
func (d *demo) pvs(ctx context.Context) (map[string]row, error) {
	r, err := d.sh.quiet(ctx, "pvs", "--reportformat", "json", "-o", "pv_name,vg_name,pv_attr,node_state")
	if err != nil {
		return nil, err
	}
	rows, err := parseReport(r.stdout, "pv")
	if err != nil {
		return nil, fmt.Errorf("$ %s: %w", r.line, err)
	}
	// A node holding no pools of a VG has one row with an empty VG; one
	// holding pools, a row per VG. The node state is the same on each.
	return byName(rows, "pv_name"), nil
}

// lvWant is what a check expects of one LV; empty fields are not checked.
type lvWant struct {
	attr, pool, origin, node string
	// attrPrefix checks the start of lv_attr only.
	attrPrefix string
	// dataPct is Data% as lvs prints it (two decimals).
	dataPct    string
	size       uint64
	excl, shrd *uint64
}

func ptr(v uint64) *uint64 { return &v }

// checkLV compares one LV of a report with want.
func checkLV(lvs map[string]row, name string, w lvWant) error {
	r, ok := lvs[name]
	if !ok {
		return mismatch("lvs", "a row for "+vg+"/"+name, fmt.Sprintf("rows %v", sortedKeys(lvs)))
	}
	str := func(field, want string) error {
		if want != "" && r[field] != want {
			return mismatch(fmt.Sprintf("%s/%s %s", vg, name, field), want, r[field])
		}
		return nil
	}
	for _, c := range [][2]string{{"lv_attr", w.attr}, {"pool_lv", w.pool}, {"origin", w.origin}, {"node", w.node}, {"data_percent", w.dataPct}} {
		if err := str(c[0], c[1]); err != nil {
			return err
		}
	}
	if w.attrPrefix != "" && !strings.HasPrefix(r["lv_attr"], w.attrPrefix) {
		return mismatch(fmt.Sprintf("%s/%s lv_attr", vg, name), w.attrPrefix+"...", r["lv_attr"])
	}
	num := func(field string, want uint64) error {
		got, err := bytesField(r, field)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", vg, name, err)
		}
		if got != want {
			return mismatch(fmt.Sprintf("%s/%s %s", vg, name, field), fmtBytes(want), fmtBytes(got))
		}
		return nil
	}
	if w.size != 0 {
		if err := num("lv_size", w.size); err != nil {
			return err
		}
	}
	if w.excl != nil {
		if err := num("exclusive_bytes", *w.excl); err != nil {
			return err
		}
	}
	if w.shrd != nil {
		if err := num("shared_bytes", *w.shrd); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	k := keys(m)
	slices.Sort(k)
	return k
}

// fmtBytes shows a byte count with its MiB value, as the checks compare.
func fmtBytes(n uint64) string {
	if n%mib == 0 {
		return fmt.Sprintf("%d bytes (%d MiB)", n, n/mib)
	}
	return fmt.Sprintf("%d bytes (%.2f MiB)", n, float64(n)/mib)
}

// leader asks the cluster, through the client, for a leader that is not
// one of the excluded nodes and whose members have all registered; it
// waits for one through an election.
func (d *demo) leader(ctx context.Context, exclude ...string) (string, error) {
	var lead string
	err := waitFor(ctx, 20*time.Second, "a leader", func(ctx context.Context) error {
		if err := d.ag.exited(); err != nil {
			return err // not a check: waiting longer cannot help
		}
		info, err := d.cl.Cluster(ctx)
		if err != nil {
			return &checkError{what: "cluster status", want: "an answer", got: err.Error()}
		}
		if info.LeaderID == "" || slices.Contains(exclude, info.LeaderID) {
			return mismatch("leader", fmt.Sprintf("a node other than %v", exclude), fmt.Sprintf("%q", info.LeaderID))
		}
		registered := 0
		for _, m := range info.Members {
			if m.APIAddr != "" {
				registered++
			}
		}
		if registered < nodes {
			return mismatch("registered members", nodes, registered)
		}
		lead = info.LeaderID
		return nil
	})
	return lead, err
}

// freshUsage waits until the pool's usage in the record was measured
// after now: two reports stamped after it, since the first may have been
// measured just before and stamped just after. Usage arrives only with
// the agents' reports (every reportInterval), so this is what makes the
// numbers lvs shows next those of the data just written.
func (d *demo) freshUsage(ctx context.Context, pool string) error {
	since := time.Now()
	for n := range 2 {
		err := waitFor(ctx, 10*reportInterval+5*time.Second, fmt.Sprintf("usage report %d of %s/%s", n+1, vg, pool), func(ctx context.Context) error {
			p, err := d.cl.Pool(ctx, vg, pool)
			if err != nil {
				return &checkError{what: "pool " + pool, want: "an answer", got: err.Error()}
			}
			if !p.Usage.ReportedAt.After(since) {
				return mismatch("usage reported_at of "+pool, "after "+since.Format(time.StampMicro), p.Usage.ReportedAt.Local().Format(time.StampMicro))
			}
			since = p.Usage.ReportedAt
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
