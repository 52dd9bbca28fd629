package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
	ucli "github.com/urfave/cli/v3"
)

func (a *app) lvconvertCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvconvert",
		Usage:     "merge a thin snapshot into its origin (--merge) or repair a thin pool (--repair)",
		ArgsUsage: "VG/LV",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "merge", Usage: "revert the snapshot's origin to the snapshot and remove the snapshot"},
			&ucli.BoolFlag{Name: "repair", Usage: "reconcile a quarantined pool on its node and lift the quarantine when clean"},
			&ucli.StringFlag{Name: "type", Usage: "not supported: pools are created with lvcreate --type thin-pool"},
			&ucli.StringFlag{Name: "poolmetadata", Usage: "not supported"},
			&ucli.StringFlag{Name: "thinpool", Usage: "not supported"},
			&ucli.BoolFlag{Name: "thin", Aliases: []string{"T"}, Usage: "not supported"},
			&ucli.StringFlag{Name: "originname", Usage: "not supported"},
			&ucli.StringFlag{Name: "zero", Aliases: []string{"Z"}, Usage: "not supported"},
			&ucli.StringFlag{Name: "discards", Usage: "not supported"},
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "answer yes to prompts"},
			&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "accepted"},
		},
		Action: a.lvconvert,
	}
}

func (a *app) lvconvert(ctx context.Context, cmd *ucli.Command) error {
	switch {
	case cmd.IsSet("type") || cmd.IsSet("poolmetadata") || cmd.IsSet("thinpool") || cmd.Bool("thin") || cmd.IsSet("originname"):
		return notSupported("lvconvert to a thin pool or thin LV (thinraft has no linear LVs to convert)",
			"create a pool with `lvcreate --type thin-pool -L SIZE -n POOL VG`")
	case cmd.Bool("merge") == cmd.Bool("repair"):
		return usagef("lvconvert needs --merge VG/SNAPSHOT or --repair VG/POOL")
	case cmd.IsSet("zero") || cmd.IsSet("discards"):
		return notSupported("lvconvert -Z/--discards", "a pool's zeroing and discards are chosen at lvcreate")
	}
	args := cmd.Args().Slice()
	if len(args) != 1 {
		return usagef("lvconvert takes one VG/LV")
	}
	r, err := needLV(args[0], "", "LV")
	if err != nil {
		return err
	}
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	if cmd.Bool("merge") {
		return a.merge(ctx, cl, r)
	}
	return a.repair(ctx, cl, r)
}

// merge is LVM's thin merge: the origin takes the snapshot's content (a
// revert to it) and the snapshot is removed.
func (a *app) merge(ctx context.Context, cl API, r lvRef) error {
	states, err := gather(ctx, cl, []string{r.VG})
	if err != nil {
		return err
	}
	s := states[0]
	var snap *metadata.Volume
	for i := range s.Volumes {
		if s.Volumes[i].Name == r.LV {
			snap = &s.Volumes[i]
		}
	}
	if snap == nil {
		return failf("Failed to find logical volume \"%s\"", r)
	}
	if snap.Origin == "" || !snap.IsSnapshot {
		return failf("\"%s\" is not a thin snapshot: --merge needs a snapshot whose origin still exists", r)
	}
	origin := s.volByUUID[snap.Origin]
	if origin == nil {
		return failf("the origin of %s no longer exists; nothing to merge into (the snapshot is a volume of its own)", r)
	}
	what := fmt.Sprintf("merge %s into %s/%s", r, r.VG, origin.Name)
	a.printf("  Merging of volume %s started.\n", r)
	res, err := cl.Revert(ctx, r.VG, origin.Name, snap.UUID, client.Wait(quickWait))
	if err != nil {
		return apiErr(what, err)
	}
	if err := a.finish(ctx, cl, what, res); err != nil {
		return err
	}
	del, err := cl.DeleteVolume(ctx, r.VG, r.LV, client.Wait(quickWait))
	if err != nil {
		return apiErr(fmt.Sprintf("remove merged snapshot %s", r), err)
	}
	if err := a.finish(ctx, cl, "remove merged snapshot "+r.String(), del); err != nil {
		return err
	}
	a.printf("  %s/%s: Merged: 100.00%%\n", r.VG, origin.Name)
	return nil
}

// repairSettle is how long --repair watches a pool after lifting its
// quarantine: the agent reconciles it at once, and re-quarantines it with
// a finding if its kernel state is still unexplained.
const repairSettle = 3 * time.Second

// repair lifts a pool's quarantine so its agent reconciles it (the
// runbook's automatic part, docs/repair.md) and reports whether the pool
// came back clean.
func (a *app) repair(ctx context.Context, cl API, r lvRef) error {
	p, err := cl.Pool(ctx, r.VG, r.LV)
	if err != nil {
		return apiErr("thin pool "+r.String(), err)
	}
	if p.State != metadata.PoolQuarantined {
		a.printf("  Thin pool %s is not quarantined; its agent reconciles it on its own.\n", r)
		return nil
	}
	if _, err := cl.Unquarantine(ctx, r.VG, r.LV); err != nil {
		return apiErr("repair "+r.String(), err)
	}
	deadline := time.Now().Add(repairSettle)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return failf("repair %s: %v", r, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
		p, err = cl.Pool(ctx, r.VG, r.LV)
		if err != nil {
			return apiErr("thin pool "+r.String(), err)
		}
		if p.State == metadata.PoolQuarantined {
			var f []string
			for _, x := range p.Findings {
				f = append(f, x.Kind+": "+x.Detail)
			}
			return failf("thin pool %s is still inconsistent after reconcile (%s); follow docs/repair.md for the manual steps", r, strings.Join(f, "; "))
		}
	}
	a.printf("  Thin pool %s reconciled; quarantine lifted.\n", r)
	return nil
}
