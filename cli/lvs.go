package cli

import (
	"context"
	"fmt"

	ucli "github.com/urfave/cli/v3"
)

// reportFlags are the options lvs, vgs and pvs share (lvs(8)).
func reportFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringSliceFlag{Name: "options", Aliases: []string{"o"}, Usage: "fields to show (+f adds to the default)"},
		&ucli.StringSliceFlag{Name: "sort", Aliases: []string{"O"}, Usage: "sort keys (-f descending)"},
		&ucli.StringFlag{Name: "units", Usage: "hHbBsSkKmMgGtTpPeE (default h)"},
		&ucli.BoolFlag{Name: "noheadings", Usage: "no heading line"},
		&ucli.BoolFlag{Name: "nosuffix", Usage: "no unit suffix on sizes"},
		&ucli.StringFlag{Name: "separator", Usage: "column separator (unaligned)"},
		&ucli.BoolFlag{Name: "aligned", Usage: "align columns with --separator"},
		&ucli.StringFlag{Name: "reportformat", Usage: "basic | json | json_std"},
		&ucli.StringFlag{Name: "select", Aliases: []string{"S"}, Usage: "field=value selection"},
	}
}

func (a *app) lvsCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvs",
		Usage:     "report thin pools, thin volumes and snapshots",
		ArgsUsage: "[VG|VG/LV ...]",
		Flags: append(reportFlags(),
			&ucli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also the pools' hidden data and metadata LVs"}),
		Action: a.lvs,
	}
}

func (a *app) lvs(ctx context.Context, cmd *ucli.Command) error {
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	vgNames, lvNames := selectArgs(cmd.Args().Slice())
	states, err := gather(ctx, cl, vgNames)
	if err != nil {
		return err
	}
	rows, err := lvRows(states, lvNames, cmd.Bool("all"))
	if err != nil {
		return err
	}
	return a.report(cmd, "lv", rows)
}

// lvRows lists the LVs of states: pools (and with all their hidden
// _tdata/_tmeta) and volumes, in name order per VG, restricted to the
// names asked for; a name that does not exist is an error, as in LVM.
func lvRows(states []*vgState, want map[string][]string, all bool) ([]lvRow, error) {
	var out []lvRow
	for _, s := range states {
		names := want[s.VG.Name]
		asked := map[string]bool{}
		for _, n := range names {
			asked[n] = true
		}
		found := map[string]bool{}
		pick := func(n string) bool {
			if len(names) == 0 || asked[n] {
				found[n] = true
				return true
			}
			return false
		}
		var rows []lvRow
		for i := range s.Pools {
			p := &s.Pools[i]
			if pick(p.Name) {
				rows = append(rows, lvRow{S: s, Pool: p})
				if all {
					rows = append(rows, lvRow{S: s, Pool: p, Hidden: "tdata"}, lvRow{S: s, Pool: p, Hidden: "tmeta"})
				}
			}
		}
		for i := range s.Volumes {
			v := &s.Volumes[i]
			if pick(v.Name) {
				rows = append(rows, lvRow{S: s, Vol: v, Pool: s.poolByUUID[v.Pool]})
			}
		}
		for _, n := range names {
			if !found[n] {
				return nil, failf("Failed to find logical volume \"%s/%s\"", s.VG.Name, n)
			}
		}
		sortRows(rows)
		out = append(out, rows...)
	}
	return out, nil
}

// sortRows orders rows by name, LVM's default (-O vg_name,lv_name), with a
// pool's hidden LVs right after it.
func sortRows(rows []lvRow) {
	key := func(r lvRow) string {
		if r.Hidden != "" {
			return r.Pool.Name + "_" + r.Hidden
		}
		return r.name()
	}
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && key(rows[j]) < key(rows[j-1]); j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
}

func (a *app) report(cmd *ucli.Command, kind string, rows []lvRow) error {
	_ = kind
	a.printf("  %-12s %-8s %-10s %10s %-8s %-8s %6s %6s\n", "LV", "VG", "Attr", "LSize", "Pool", "Origin", "Data%", "Meta%")
	for _, r := range rows {
		a.printf("  %-12s %-8s %-10s %10s %-8s %-8s %6s %6s\n", r.name(), r.S.VG.Name, r.attr(), fmt.Sprintf("%.2fm", float64(r.size())/mib), r.poolLV(), r.origin(), r.dataPercent(), r.metaPercent())
	}
	return nil
}

func (a *app) reportVGs(cmd *ucli.Command, states []*vgState) error {
	a.printf("  %-8s %4s %4s %4s %6s %10s %10s\n", "VG", "#PV", "#LV", "#SN", "Attr", "VSize", "VFree")
	for _, s := range states {
		snaps := 0
		for _, v := range s.Volumes {
			if v.IsSnapshot {
				snaps++
			}
		}
		var size uint64
		nodes := map[string]bool{}
		for _, p := range s.Pools {
			size += p.DataBytes + p.MetaBytes
			nodes[p.Node] = true
		}
		a.printf("  %-8s %4d %4d %4d %6s %10s %10s\n", s.VG.Name, len(nodes), len(s.Pools)+len(s.Volumes)-snaps, snaps, "wz--n-", fmt.Sprintf("%.2fm", float64(size)/mib), "0")
	}
	return nil
}

func (a *app) pvs(ctx context.Context, cmd *ucli.Command) error {
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	nodes, err := cl.Nodes(ctx)
	if err != nil {
		return apiErr("list nodes", err)
	}
	a.printf("  %-6s %-6s %-10s\n", "PV", "State", "API")
	for _, n := range nodes {
		a.printf("  %-6s %-6s %-10s\n", n.ID, n.State, n.APIAddr)
	}
	return nil
}
