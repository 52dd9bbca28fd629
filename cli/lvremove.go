package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
	ucli "github.com/urfave/cli/v3"
)

func (a *app) lvremoveCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvremove",
		Usage:     "remove thin volumes, snapshots and thin pools",
		ArgsUsage: "VG|VG/LV ...",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove without prompting"},
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "answer yes to every prompt"},
			&ucli.StringFlag{Name: "select", Aliases: []string{"S"}, Usage: "not supported"},
		},
		Action: a.lvremove,
	}
}

func (a *app) lvremove(ctx context.Context, cmd *ucli.Command) error {
	args := cmd.Args().Slice()
	if len(args) == 0 {
		return usagef("lvremove needs VG or VG/LV arguments")
	}
	if cmd.IsSet("select") {
		return usagef("lvremove -S is not supported; name the LVs as VG/LV")
	}
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	yes := cmd.Bool("force") || cmd.Bool("yes")
	failed := false
	for _, arg := range args {
		r := parseRef(arg)
		var err error
		if r.VG == "" {
			err = a.removeVGLVs(ctx, cl, r.LV, yes)
		} else {
			err = a.removeLV(ctx, cl, r, yes)
		}
		if err != nil {
			// LVM goes on with the other LVs and fails at the end.
			a.noteErr(err)
			failed = true
		}
	}
	if failed {
		return errReported()
	}
	return nil
}

// removeVGLVs removes every LV of a VG: volumes first, then pools, a
// prompt each (LVM's lvremove VG).
func (a *app) removeVGLVs(ctx context.Context, cl API, vg string, yes bool) error {
	states, err := gather(ctx, cl, []string{vg})
	if err != nil {
		return err
	}
	s := states[0]
	failed := false
	kept := map[string]bool{}
	for _, v := range s.Volumes {
		if err := a.removeVolume(ctx, cl, vg, v, yes); err != nil {
			a.noteErr(err)
			failed = true
			kept[v.Pool] = true
		}
	}
	for _, p := range s.Pools {
		if kept[p.UUID] {
			// A volume the user kept keeps its pool.
			a.note("Logical volume \"%s\" not removed.", p.Name)
			continue
		}
		if err := a.removePool(ctx, cl, vg, p.Name, nil, yes); err != nil {
			a.noteErr(err)
			failed = true
		}
	}
	if failed {
		return errReported()
	}
	return nil
}

// removeLV removes one LV: a volume, or a pool with its volumes after a
// prompt naming how many depend on it.
func (a *app) removeLV(ctx context.Context, cl API, r lvRef, yes bool) error {
	v, err := cl.Volume(ctx, r.VG, r.LV)
	if err == nil {
		return a.removeVolume(ctx, cl, r.VG, *v, yes)
	}
	if !errors.Is(err, client.ErrNotFound) {
		return apiErr("logical volume "+r.String(), err)
	}
	if _, perr := cl.Pool(ctx, r.VG, r.LV); perr != nil {
		if errors.Is(perr, client.ErrNotFound) {
			return failf("Failed to find logical volume \"%s\"", r)
		}
		return apiErr("logical volume "+r.String(), perr)
	}
	states, err := gather(ctx, cl, []string{r.VG})
	if err != nil {
		return err
	}
	var deps []metadata.Volume
	for _, v := range states[0].Volumes {
		if states[0].poolName(v.Pool) == r.LV {
			deps = append(deps, v)
		}
	}
	return a.removePool(ctx, cl, r.VG, r.LV, deps, yes)
}

func (a *app) removeVolume(ctx context.Context, cl API, vg string, v metadata.Volume, yes bool) error {
	if v.Active && !a.confirm(yes, "Do you really want to remove active logical volume %s/%s?", vg, v.Name) {
		return failf("Logical volume \"%s\" not removed.", v.Name)
	}
	what := fmt.Sprintf("remove logical volume %s/%s", vg, v.Name)
	r, err := cl.DeleteVolume(ctx, vg, v.Name, client.Wait(quickWait))
	if err != nil {
		if errors.Is(err, client.ErrConflict) && v.Open {
			return failf("Logical volume %s/%s in use: close its NBD clients first", vg, v.Name)
		}
		return apiErr(what, err)
	}
	if err := a.finish(ctx, cl, what, r); err != nil {
		return err
	}
	a.printf("  Logical volume \"%s\" successfully removed.\n", v.Name)
	return nil
}

func (a *app) removePool(ctx context.Context, cl API, vg, pool string, deps []metadata.Volume, yes bool) error {
	if len(deps) > 0 {
		if !a.confirm(yes, "Removing pool \"%s\" will remove %d dependent volume(s). Proceed?", pool, len(deps)) {
			return failf("Logical volume \"%s\" not removed.", pool)
		}
		for _, v := range deps {
			// A dependent the user keeps keeps the pool.
			if err := a.removeVolume(ctx, cl, vg, v, yes); err != nil {
				a.noteErr(err)
				return failf("Logical volume \"%s\" not removed.", pool)
			}
		}
	}
	if !a.confirm(yes, "Do you really want to remove active logical volume %s/%s?", vg, pool) {
		return failf("Logical volume \"%s\" not removed.", pool)
	}
	if err := cl.DeletePool(ctx, vg, pool); err != nil {
		return apiErr(fmt.Sprintf("remove thin pool %s/%s", vg, pool), err)
	}
	a.printf("  Logical volume \"%s\" successfully removed.\n", pool)
	return nil
}
