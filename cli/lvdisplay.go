package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/thinraft/thinraft/metadata"
	ucli "github.com/urfave/cli/v3"
)

func (a *app) lvdisplayCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvdisplay",
		Usage:     "describe LVs in LVM's lvdisplay layout",
		ArgsUsage: "[VG|VG/LV ...]",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "accepted"},
		},
		Action: func(ctx context.Context, cmd *ucli.Command) error {
			cl, err := a.client(cmd)
			if err != nil {
				return err
			}
			vgNames, lvNames := selectArgs(cmd.Args().Slice())
			states, err := gather(ctx, cl, vgNames)
			if err != nil {
				return err
			}
			rows, err := lvRows(states, lvNames)
			if err != nil {
				return err
			}
			for _, r := range rows {
				a.lvdisplay(r)
			}
			return nil
		},
	}
}

func (a *app) lvdisplay(r lvRow) {
	line := func(k, v string) { a.printf("  %-22s %s\n", k, v) }
	a.printf("  --- Logical volume ---\n")
	vg := r.S.VG.Name
	if r.Vol == nil {
		p := r.Pool
		line("LV Name", p.Name)
		line("VG Name", vg)
		line("LV UUID", p.UUID)
		line("LV Write Access", "read/write")
		line("LV Creation host, time", "thinraft, "+p.CreatedAt.UTC().Format("2006-01-02 15:04:05 -0700"))
		line("LV Pool metadata", p.Name+"_tmeta")
		line("LV Pool data", p.Name+"_tdata")
		line("LV Status", map[bool]string{true: "available", false: "NOT available (" + string(p.State) + ")"}[p.State == metadata.PoolActive])
		line("LV Size", human(p.DataBytes))
		line("Allocated pool data", r.dataPercent()+"%")
		line("Allocated metadata", r.metaPercent()+"%")
		line("Current LE", fmt.Sprint((p.DataBytes+extentBytes-1)/extentBytes))
		line("Segments", "1")
		line("Allocation", "inherit")
		line("Chunk size", human(uint64(p.ChunkSectors)*sector))
		line("Zero new blocks", map[bool]string{true: "yes", false: "no"}[p.Zero])
		line("Discards", p.Discards)
		line("Node", p.Node)
		a.printf("\n")
		return
	}
	v := r.Vol
	line("LV Path", "/dev/"+vg+"/"+v.Name)
	line("LV Name", v.Name)
	line("VG Name", vg)
	line("LV UUID", v.UUID)
	line("LV Write Access", map[bool]string{true: "read only", false: "read/write"}[v.ReadOnly])
	line("LV Creation host, time", "thinraft, "+v.CreatedAt.UTC().Format("2006-01-02 15:04:05 -0700"))
	line("LV Pool name", r.poolLV())
	if o := r.origin(); o != "" {
		line("LV Thin origin name", o)
	}
	status := "NOT available"
	if v.Active && v.State == metadata.VolumeActive {
		status = "available"
	}
	if v.State != metadata.VolumeActive {
		status += " (" + string(v.State) + ")"
	}
	line("LV Status", status)
	open := "0"
	if v.Open {
		open = "1"
	}
	line("# open", open)
	line("LV Size", human(v.SizeBytes))
	line("Mapped size", r.dataPercent()+"%")
	line("Exclusive size", human(v.ExclusiveBytes))
	line("Shared size", human(v.SharedBytes))
	line("Current LE", fmt.Sprint((v.SizeBytes+extentBytes-1)/extentBytes))
	line("Segments", "1")
	line("Allocation", "inherit")
	line("Thin device id", fmt.Sprint(v.ThinID))
	if r.Pool != nil {
		line("Node", r.Pool.Node)
	}
	if len(v.Tags) > 0 {
		line("LV Tags", strings.Join(v.Tags, ","))
	}
	if v.Reason != "" {
		line("Failure", v.Reason)
	}
	a.printf("\n")
}
