package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	ucli "github.com/urfave/cli/v3"
)

func (a *app) vgcreateCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "vgcreate",
		Usage:     "create a volume group (cluster-wide; its pools live on nodes)",
		ArgsUsage: "VG [PV ...]",
		Flags: []ucli.Flag{
			&ucli.StringSliceFlag{Name: "addtag", Usage: "tag the VG (repeatable)"},
			&ucli.IntFlag{Name: "maxlogicalvolumes", Aliases: []string{"l"}, Usage: "most LVs the VG may hold (0: no limit)"},
			&ucli.StringFlag{Name: "physicalextentsize", Aliases: []string{"s"}, Usage: "accepted; thinraft has no extents"},
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "accepted"},
		},
		Action: a.vgcreate,
	}
}

func (a *app) vgcreate(ctx context.Context, cmd *ucli.Command) error {
	args := cmd.Args().Slice()
	if len(args) == 0 {
		return usagef("vgcreate needs a VG name")
	}
	if len(args) > 1 {
		a.note("Ignoring %s: a thinraft VG spans the cluster; its pools' storage is on their nodes (lvcreate --node).", strings.Join(args[1:], " "))
	}
	var tags []string
	for _, t := range cmd.StringSlice("addtag") {
		tags = append(tags, strings.Split(t, ",")...)
	}
	if n := cmd.Int("maxlogicalvolumes"); n < 0 {
		return usagef("--maxlogicalvolumes %d: want 0 (no limit) or more", n)
	}
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	if _, err := cl.CreateVG(ctx, api.VGCreateRequest{Name: args[0], Tags: tags, MaxVolumes: int(cmd.Int("maxlogicalvolumes"))}); err != nil {
		if errors.Is(err, client.ErrExists) {
			return failf("A volume group called %s already exists.", args[0])
		}
		return apiErr("create volume group "+args[0], err)
	}
	a.printf("  Volume group \"%s\" successfully created\n", args[0])
	return nil
}

func (a *app) vgremoveCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "vgremove",
		Usage:     "remove volume groups (and, after prompts, their LVs)",
		ArgsUsage: "VG ...",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove LVs without prompting"},
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "answer yes to every prompt"},
		},
		Action: a.vgremove,
	}
}

func (a *app) vgremove(ctx context.Context, cmd *ucli.Command) error {
	args := cmd.Args().Slice()
	if len(args) == 0 {
		return usagef("vgremove needs VG names")
	}
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	yes := cmd.Bool("force") || cmd.Bool("yes")
	failed := false
	for _, vg := range args {
		if err := a.removeVG(ctx, cl, vg, yes); err != nil {
			a.noteErr(err)
			failed = true
		}
	}
	if failed {
		return errReported()
	}
	return nil
}

// removeVG removes one VG, its LVs first after LVM's prompts.
func (a *app) removeVG(ctx context.Context, cl API, vg string, yes bool) error {
	states, err := gather(ctx, cl, []string{vg})
	if err != nil {
		return err
	}
	s := states[0]
	if n := len(s.Pools) + len(s.Volumes); n > 0 {
		if !a.confirm(yes, "Do you really want to remove volume group \"%s\" containing %d logical volumes?", vg, n) {
			return failf("Volume group \"%s\" not removed", vg)
		}
		if err := a.removeVGLVs(ctx, cl, vg, yes); err != nil {
			a.noteErr(err)
			return failf("Volume group \"%s\" not removed", vg)
		}
	}
	if err := cl.DeleteVG(ctx, vg); err != nil {
		return apiErr("remove volume group "+vg, err)
	}
	a.printf("  Volume group \"%s\" successfully removed\n", vg)
	return nil
}

func (a *app) vgsCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "vgs",
		Usage:     "report volume groups",
		ArgsUsage: "[VG ...]",
		Flags:     reportFlags(),
		Action: func(ctx context.Context, cmd *ucli.Command) error {
			cl, err := a.client(cmd)
			if err != nil {
				return err
			}
			states, err := gather(ctx, cl, cmd.Args().Slice())
			if err != nil {
				return err
			}
			nodes, err := cl.Nodes(ctx)
			if err != nil {
				return apiErr("list nodes", err)
			}
			return a.reportVGs(cmd, nodes, states)
		},
	}
}

func (a *app) vgdisplayCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "vgdisplay",
		Usage:     "describe volume groups",
		ArgsUsage: "[VG ...]",
		Action: func(ctx context.Context, cmd *ucli.Command) error {
			cl, err := a.client(cmd)
			if err != nil {
				return err
			}
			states, err := gather(ctx, cl, cmd.Args().Slice())
			if err != nil {
				return err
			}
			for _, s := range states {
				a.vgdisplay(s)
			}
			return nil
		},
	}
}

func (a *app) vgdisplay(s *vgState) {
	var size, used, meta uint64
	nodes := map[string]bool{}
	for _, p := range s.Pools {
		size += p.DataBytes + p.MetaBytes
		meta += p.MetaBytes
		used += p.Usage.DataUsed * uint64(p.ChunkSectors) * sector
		nodes[p.Node] = true
	}
	maxLV := "0"
	if s.VG.MaxVolumes > 0 {
		maxLV = fmt.Sprint(s.VG.MaxVolumes)
	}
	line := func(k, v string) { a.printf("  %-21s %s\n", k, v) }
	a.printf("  --- Volume group ---\n")
	line("VG Name", s.VG.Name)
	line("System ID", "")
	line("Format", "thinraft")
	line("VG Access", "read/write")
	line("VG Status", "resizable")
	line("MAX LV", maxLV)
	line("Cur LV", fmt.Sprint(len(s.Pools)+len(s.Volumes)))
	line("Cur PV", fmt.Sprint(len(nodes)))
	line("VG Size", human(size))
	line("Alloc Size", fmt.Sprintf("%s (pool data used, plus %s of pool metadata)", human(used), human(meta)))
	line("VG UUID", s.VG.UUID)
	if len(s.VG.Tags) > 0 {
		line("VG Tags", strings.Join(s.VG.Tags, ","))
	}
	a.printf("\n")
}

func (a *app) pvsCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "pvs",
		Usage:     "report the cluster's nodes as physical volumes (where pools live)",
		ArgsUsage: "[NODE ...]",
		Flags:     reportFlags(),
		Action:    a.pvs,
	}
}
