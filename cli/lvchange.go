package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	ucli "github.com/urfave/cli/v3"
)

func (a *app) lvchangeCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvchange",
		Usage:     "change thin volumes: activation, permission, activation skip, tags",
		ArgsUsage: "VG|VG/LV ...",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "activate", Aliases: []string{"a"}, Usage: "y|n"},
			&ucli.BoolFlag{Name: "ignoreactivationskip", Aliases: []string{"K"}, Usage: "activate LVs with the activation skip flag too"},
			&ucli.StringFlag{Name: "setactivationskip", Aliases: []string{"k"}, Usage: "y|n"},
			&ucli.StringFlag{Name: "permission", Aliases: []string{"p"}, Usage: "r | rw"},
			&ucli.StringSliceFlag{Name: "addtag", Usage: "add a tag (repeatable)"},
			&ucli.StringSliceFlag{Name: "deltag", Usage: "remove a tag (repeatable)"},
			&ucli.StringFlag{Name: "monitor", Usage: "y|n (accepted; every pool is monitored)"},
			&ucli.StringFlag{Name: "zero", Aliases: []string{"Z"}, Usage: "not supported after creation"},
			&ucli.StringFlag{Name: "discards", Usage: "not supported after creation"},
			&ucli.StringFlag{Name: "errorwhenfull", Usage: "not supported after creation"},
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "accepted"},
			&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "accepted"},
		},
		Action: a.lvchange,
	}
}

// lvchangePlan is what lvchange's options ask of each volume.
type lvchangePlan struct {
	Active     *bool
	IgnoreSkip bool
	Patch      api.VolumePatchRequest
	AddTags    []string
	DelTags    []string
}

func planLVChange(cmd *ucli.Command) (*lvchangePlan, error) {
	p := &lvchangePlan{IgnoreSkip: cmd.Bool("ignoreactivationskip")}
	for _, f := range []string{"zero", "discards", "errorwhenfull"} {
		if cmd.IsSet(f) {
			return nil, notSupported("lvchange --"+f, "a pool's "+f+" setting is chosen at lvcreate")
		}
	}
	if cmd.IsSet("activate") {
		on, err := activation(cmd.String("activate"))
		if err != nil {
			return nil, err
		}
		p.Active = &on
	}
	if cmd.IsSet("setactivationskip") {
		k, err := yesNo("setactivationskip", cmd.String("setactivationskip"))
		if err != nil {
			return nil, err
		}
		p.Patch.ActivationSkip = &k
	}
	if cmd.IsSet("permission") {
		var ro bool
		switch cmd.String("permission") {
		case "r":
			ro = true
		case "rw":
		default:
			return nil, usagef("--permission %q: want r or rw", cmd.String("permission"))
		}
		p.Patch.ReadOnly = &ro
	}
	for _, t := range cmd.StringSlice("addtag") {
		p.AddTags = append(p.AddTags, strings.Split(t, ",")...)
	}
	for _, t := range cmd.StringSlice("deltag") {
		p.DelTags = append(p.DelTags, strings.Split(t, ",")...)
	}
	if p.Active == nil && p.Patch.ActivationSkip == nil && p.Patch.ReadOnly == nil && len(p.AddTags)+len(p.DelTags) == 0 && !cmd.IsSet("monitor") {
		return nil, usagef("lvchange needs something to change: -a y|n, -p r|rw, -k y|n, --addtag, --deltag")
	}
	return p, nil
}

func (a *app) lvchange(ctx context.Context, cmd *ucli.Command) error {
	args := cmd.Args().Slice()
	if len(args) == 0 {
		return usagef("lvchange needs VG or VG/LV arguments")
	}
	p, err := planLVChange(cmd)
	if err != nil {
		return err
	}
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	type target struct {
		r     lvRef
		named bool
	}
	var targets []target
	for _, arg := range args {
		r := parseRef(arg)
		if r.VG != "" {
			targets = append(targets, target{r, true})
			continue
		}
		vols, err := allVolumes(ctx, cl, r.LV)
		if err != nil {
			return err
		}
		for _, v := range vols {
			targets = append(targets, target{lvRef{r.LV, v.Name}, false})
		}
	}
	for _, t := range targets {
		if err := a.changeOne(ctx, cl, t.r, p, t.named); err != nil {
			return err
		}
	}
	return nil
}

// changeOne applies p to one LV; named says the LV was named on the command
// line (not one of a VG's), so a skipped activation is worth a note.
func (a *app) changeOne(ctx context.Context, cl API, r lvRef, p *lvchangePlan, named bool) error {
	v, err := cl.Volume(ctx, r.VG, r.LV)
	if err != nil {
		if errors.Is(err, client.ErrNotFound) {
			if _, perr := cl.Pool(ctx, r.VG, r.LV); perr == nil {
				if p.Patch.ReadOnly == nil && p.Patch.ActivationSkip == nil && len(p.AddTags)+len(p.DelTags) == 0 {
					// A pool is active and monitored while its node
					// runs: -a and --monitor have nothing to switch.
					if p.Active != nil && !*p.Active && named {
						a.note("Thin pool %s stays active while its node runs; deactivate its thin volumes instead.", r)
					}
					return nil
				}
				return notSupported("lvchange of a thin pool's settings", "change its thin volumes")
			}
			return failf("Failed to find logical volume \"%s\"", r)
		}
		return apiErr("logical volume "+r.String(), err)
	}
	patch := p.Patch
	if len(p.AddTags)+len(p.DelTags) > 0 {
		tags := slices.Clone(v.Tags)
		for _, t := range p.AddTags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		tags = slices.DeleteFunc(tags, func(t string) bool { return slices.Contains(p.DelTags, t) })
		patch.Tags = &tags
	}
	changed := patch != (api.VolumePatchRequest{})
	if changed {
		nv, err := cl.PatchVolume(ctx, r.VG, r.LV, patch)
		if err != nil {
			return apiErr("change "+r.String(), err)
		}
		if nv != nil {
			v = nv
		}
		a.printf("  Logical volume %s changed.\n", r)
	}
	if p.Active != nil {
		skip := v.ActivationSkip
		if *p.Active && skip && !p.IgnoreSkip {
			// LVM passes over an LV with the activation skip flag
			// unless -K is given.
			if named {
				a.note("Skipping activation of %s: it has the activation skip flag; add -K.", r)
			}
			return nil
		}
		if v.Active != *p.Active {
			if _, err := cl.SetActive(ctx, r.VG, r.LV, *p.Active); err != nil {
				if errors.Is(err, client.ErrConflict) {
					return failf("Logical volume %s in use: %s", r, oneLine(stripAPI(err)))
				}
				return apiErr(fmt.Sprintf("%s %s", map[bool]string{true: "activate", false: "deactivate"}[*p.Active], r), err)
			}
		}
	}
	return nil
}

// lvrename renames a thin volume: VG OLD NEW, VG/OLD VG/NEW or VG/OLD NEW.
func (a *app) lvrenameCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvrename",
		Usage:     "rename a thin volume or snapshot",
		ArgsUsage: "VG OLD NEW | VG/OLD VG/NEW",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "accepted"},
		},
		Action: func(ctx context.Context, cmd *ucli.Command) error {
			oldR, newName, err := renameArgs(cmd.Args().Slice())
			if err != nil {
				return err
			}
			cl, err := a.client(cmd)
			if err != nil {
				return err
			}
			if _, err := cl.PatchVolume(ctx, oldR.VG, oldR.LV, api.VolumePatchRequest{NewName: &newName}); err != nil {
				if errors.Is(err, client.ErrNotFound) {
					if _, perr := cl.Pool(ctx, oldR.VG, oldR.LV); perr == nil {
						return notSupported("renaming a thin pool", "pools keep their names; rename volumes")
					}
					return failf("Existing logical volume \"%s\" not found in volume group \"%s\"", oldR.LV, oldR.VG)
				}
				if errors.Is(err, client.ErrExists) {
					return failf("Logical Volume \"%s\" already exists in volume group \"%s\"; choose another name", newName, oldR.VG)
				}
				return apiErr("rename "+oldR.String(), err)
			}
			a.printf("  Renamed \"%s\" to \"%s\" in volume group \"%s\"\n", oldR.LV, newName, oldR.VG)
			return nil
		},
	}
}

func renameArgs(args []string) (lvRef, string, error) {
	switch len(args) {
	case 3:
		if strings.Contains(args[0], "/") {
			return lvRef{}, "", usagef("lvrename VG OLD NEW takes a bare VG name first")
		}
		o, err := needLV(args[1], args[0], "old LV")
		if err != nil {
			return lvRef{}, "", err
		}
		n, err := needLV(args[2], args[0], "new LV")
		return o, n.LV, err
	case 2:
		o, err := needLV(args[0], "", "old LV")
		if err != nil {
			return lvRef{}, "", err
		}
		n, err := needLV(args[1], o.VG, "new LV")
		return o, n.LV, err
	}
	return lvRef{}, "", usagef("lvrename takes VG OLD NEW or VG/OLD VG/NEW")
}
