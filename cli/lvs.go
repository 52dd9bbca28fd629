package cli

import (
	"context"
	"errors"

	"github.com/thinraft/thinraft/cli/report"
	"github.com/thinraft/thinraft/metadata"
	ucli "github.com/urfave/cli/v3"
)

// reportFlags are the options lvs, vgs and pvs share (lvs(8),
// lvmreport(7)); cli/report does the formatting.
func reportFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringSliceFlag{Name: "options", Aliases: []string{"o"}, Usage: "fields to show (+f adds, -f removes, help lists them)"},
		&ucli.StringSliceFlag{Name: "sort", Aliases: []string{"O"}, Usage: "sort keys (-field descending)"},
		&ucli.StringFlag{Name: "units", Usage: "r|h|b|s|k|m|g|t|p|e (upper case: SI)"},
		&ucli.BoolFlag{Name: "noheadings", Usage: "no heading line"},
		&ucli.BoolFlag{Name: "nosuffix", Usage: "no unit suffix on sizes"},
		&ucli.StringFlag{Name: "separator", Usage: "column separator (columns not aligned)"},
		&ucli.BoolFlag{Name: "aligned", Usage: "align columns with --separator"},
		&ucli.BoolFlag{Name: "nameprefixes", Usage: "LVM2_FIELD='value' pairs"},
		&ucli.BoolFlag{Name: "unquoted", Usage: "with --nameprefixes: no quotes"},
		&ucli.BoolFlag{Name: "binary", Usage: "0/1 for binary fields"},
		&ucli.StringFlag{Name: "reportformat", Usage: "basic | json | json_std"},
	}
}

// reportOptions maps the report flags to cli/report's options; a repeated
// -o/-O is passed on as given (LVM appends -o and the last -O wins).
func reportOptions(cmd *ucli.Command) report.Options {
	return report.Options{
		Fields: cmd.StringSlice("options"), Sort: cmd.StringSlice("sort"),
		Units: cmd.String("units"), NoSuffix: cmd.Bool("nosuffix"), NoHeadings: cmd.Bool("noheadings"),
		Separator: cmd.String("separator"), Aligned: cmd.Bool("aligned"),
		NamePrefixes: cmd.Bool("nameprefixes"), Unquoted: cmd.Bool("unquoted"), Binary: cmd.Bool("binary"),
		Format: cmd.String("reportformat"),
	}
}

// reportErr turns the engine's errors into exit codes: a bad field or
// option is an invalid command line; -o help prints the fields and is not
// an error.
func (a *app) reportErr(kind report.Kind, err error) error {
	var fe *report.FieldError
	var oe *report.OptionError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, report.ErrHelp):
		return report.FieldHelp(a.env.Stdout, kind)
	case errors.As(err, &fe), errors.As(err, &oe):
		return usagef("%v", err)
	}
	return failf("report: %v", err)
}

func (a *app) lvsCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvs",
		Usage:     "report thin pools, thin volumes and snapshots",
		ArgsUsage: "[VG|VG/LV ...]",
		Flags: append(reportFlags(),
			&ucli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also the pools' hidden data and metadata LVs"},
			&ucli.StringFlag{Name: "select", Aliases: []string{"S"}, Usage: "FIELD=VALUE, !=, =~, !~ joined by && || ! ( )"}),
		Action: a.lvs,
	}
}

func (a *app) lvs(ctx context.Context, cmd *ucli.Command) error {
	var sel selector
	if cmd.IsSet("select") {
		var err error
		if sel, err = parseSelect(cmd.String("select")); err != nil {
			return err
		}
	}
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	vgNames, lvNames := selectArgs(cmd.Args().Slice())
	states, err := gather(ctx, cl, vgNames)
	if err != nil {
		return err
	}
	nodes, err := cl.Nodes(ctx)
	if err != nil {
		return apiErr("list nodes", err)
	}
	var rows []report.LVRow
	for _, s := range states {
		all := report.BuildLVRows(s.Pools, s.Volumes, nodes, cmd.Bool("all"))
		picked, err := pickLVs(s.VG.Name, all, lvNames[s.VG.Name])
		if err != nil {
			return err
		}
		for i := range picked {
			if sel == nil || sel(&picked[i]) {
				rows = append(rows, picked[i])
			}
		}
	}
	return a.reportErr(report.KindLV, report.LVs(a.env.Stdout, rows, reportOptions(cmd)))
}

// pickLVs keeps the rows named (all when names is empty; a pool's hidden
// LVs go with it); a name that exists nowhere is LVM's error.
func pickLVs(vg string, rows []report.LVRow, names []string) ([]report.LVRow, error) {
	if len(names) == 0 {
		return rows, nil
	}
	found := map[string]bool{}
	var out []report.LVRow
	for _, r := range rows {
		n := r.Pool.Name
		if r.Volume != nil {
			n = r.Volume.Name
		}
		for _, want := range names {
			if want == n {
				out = append(out, r)
				found[n] = true
			}
		}
	}
	for _, n := range names {
		if !found[n] {
			return nil, failf("Failed to find logical volume \"%s/%s\"", vg, n)
		}
	}
	return out, nil
}

func (a *app) reportVGs(cmd *ucli.Command, nodes []metadata.Node, states []*vgState) error {
	var vgs []metadata.VG
	var pools []metadata.Pool
	var vols []metadata.Volume
	for _, s := range states {
		vgs = append(vgs, s.VG)
		pools = append(pools, s.Pools...)
		vols = append(vols, s.Volumes...)
	}
	rows := report.BuildVGRows(vgs, pools, vols, nodes)
	return a.reportErr(report.KindVG, report.VGs(a.env.Stdout, rows, reportOptions(cmd)))
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
	states, err := gather(ctx, cl, nil)
	if err != nil {
		return err
	}
	var pools []metadata.Pool
	for _, s := range states {
		pools = append(pools, s.Pools...)
	}
	rows := report.BuildPVRows(nodes, pools)
	if want := cmd.Args().Slice(); len(want) > 0 {
		var picked []report.PVRow
		for _, id := range want {
			found := false
			for _, r := range rows {
				if r.Node.ID == id {
					picked = append(picked, r)
					found = true
				}
			}
			if !found {
				return failf("Failed to find physical volume \"%s\"; `thinraft pvs` lists the nodes", id)
			}
		}
		rows = picked
	}
	return a.reportErr(report.KindPV, report.PVs(a.env.Stdout, rows, reportOptions(cmd)))
}
