package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	ucli "github.com/urfave/cli/v3"
)

func resizeFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "size", Aliases: []string{"L"}, Usage: "new size, or +SIZE to add (default unit MiB)"},
		&ucli.StringFlag{Name: "extents", Aliases: []string{"l"}, Usage: "new size in 4 MiB extents, +N, N%LV, N%ORIGIN"},
		&ucli.StringFlag{Name: "poolmetadatasize", Usage: "a pool's new metadata size, or +SIZE"},
		&ucli.BoolFlag{Name: "resizefs", Aliases: []string{"r"}, Usage: "accepted and ignored: thinraft does not see file systems"},
		&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "accepted"},
		&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "accepted"},
		&ucli.BoolFlag{Name: "nofsck", Aliases: []string{"n"}, Usage: "accepted"},
		&ucli.BoolFlag{Name: "use-policies", Usage: "not supported: pools autoextend by themselves"},
	}
}

func (a *app) lvextendCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvextend",
		Usage:     "grow a thin volume, or a thin pool's data or metadata",
		ArgsUsage: "VG/LV",
		Flags:     resizeFlags(),
		Action:    func(ctx context.Context, cmd *ucli.Command) error { return a.resize(ctx, cmd, +1) },
	}
}

func (a *app) lvresizeCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvresize",
		Usage:     "grow a thin volume or pool (thinraft volumes do not shrink)",
		ArgsUsage: "VG/LV",
		Flags:     resizeFlags(),
		Action:    func(ctx context.Context, cmd *ucli.Command) error { return a.resize(ctx, cmd, 0) },
	}
}

func (a *app) lvreduceCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvreduce",
		Usage:     "refused: thin volumes and pools do not shrink in thinraft",
		ArgsUsage: "VG/LV",
		Flags:     resizeFlags(),
		Action: func(context.Context, *ucli.Command) error {
			return notShrink()
		},
	}
}

func notShrink() error {
	return usagef("thin volumes and pools do not shrink in thinraft (lvreduce); copy the data to a smaller new volume instead")
}

// newSize resolves -L/-l against the current size: dir is +1 for lvextend
// (a bare size must be larger), 0 for lvresize.
func newSize(cmd *ucli.Command, cur, origin uint64) (uint64, error) {
	var sign int
	var n uint64
	switch {
	case cmd.IsSet("size") && cmd.IsSet("extents"):
		return 0, usagef("give -L or -l, not both")
	case cmd.IsSet("size"):
		sz, err := ParseSize(cmd.String("size"), mib)
		if err != nil {
			return 0, usagef("-L: %v", err)
		}
		sign, n = sz.Sign, sz.Bytes
	case cmd.IsSet("extents"):
		e, err := ParseExtents(cmd.String("extents"))
		if err != nil {
			return 0, usagef("-l: %v", err)
		}
		b, err := e.Resolve(cur, origin)
		if err != nil {
			return 0, usagef("-l: %v", err)
		}
		sign, n = e.Sign, b
	default:
		return 0, nil
	}
	switch sign {
	case -1:
		return 0, notShrink()
	case 1:
		return cur + n, nil
	}
	return n, nil
}

func (a *app) resize(ctx context.Context, cmd *ucli.Command, _ int) error {
	args := cmd.Args().Slice()
	if len(args) != 1 {
		return usagef("%s needs one VG/LV", cmd.Name)
	}
	r, err := needLV(args[0], "", "LV")
	if err != nil {
		return err
	}
	if cmd.Bool("use-policies") {
		return notSupported("--use-policies", "pools autoextend on their nodes; give -L +SIZE to grow one now")
	}
	if !cmd.IsSet("size") && !cmd.IsSet("extents") && !cmd.IsSet("poolmetadatasize") {
		return usagef("%s needs -L SIZE, -l EXTENTS or --poolmetadatasize SIZE", cmd.Name)
	}
	if cmd.Bool("resizefs") {
		a.note("Ignoring --resizefs: thinraft does not see the file system; grow it on the client after this.")
	}
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	v, err := cl.Volume(ctx, r.VG, r.LV)
	if err == nil {
		if cmd.IsSet("poolmetadatasize") {
			return usagef("--poolmetadatasize applies to a thin pool; %s is a thin volume", r)
		}
		var origin uint64
		if v.Origin != "" {
			states, err := gather(ctx, cl, []string{r.VG})
			if err != nil {
				return err
			}
			if o := states[0].volByUUID[v.Origin]; o != nil {
				origin = o.SizeBytes
			}
		}
		n, err := newSize(cmd, v.SizeBytes, origin)
		if err != nil {
			return err
		}
		if err := sizeChange(r, v.SizeBytes, n); err != nil {
			return err
		}
		if _, err := cl.PatchVolume(ctx, r.VG, r.LV, api.VolumePatchRequest{SizeBytes: &n}); err != nil {
			return apiErr("extend "+r.String(), err)
		}
		a.printf("  Size of logical volume %s changed from %s to %s.\n", r, lvmSize(v.SizeBytes), lvmSize(n))
		a.printf("  Logical volume %s successfully resized.\n", r)
		return nil
	}
	if !errors.Is(err, client.ErrNotFound) {
		return apiErr("logical volume "+r.String(), err)
	}
	p, err := cl.Pool(ctx, r.VG, r.LV)
	if err != nil {
		if errors.Is(err, client.ErrNotFound) {
			return failf("Failed to find logical volume \"%s\"", r)
		}
		return apiErr("logical volume "+r.String(), err)
	}
	data, err := newSize(cmd, p.DataBytes, 0)
	if err != nil {
		return err
	}
	var meta uint64
	if cmd.IsSet("poolmetadatasize") {
		sz, err := ParseSize(cmd.String("poolmetadatasize"), mib)
		if err != nil {
			return usagef("--poolmetadatasize: %v", err)
		}
		switch sz.Sign {
		case -1:
			return notShrink()
		case 1:
			meta = p.MetaBytes + sz.Bytes
		default:
			meta = sz.Bytes
		}
		if err := sizeChange(lvRef{r.VG, r.LV + "_tmeta"}, p.MetaBytes, meta); err != nil {
			return err
		}
	}
	if data != 0 {
		// A pool grows by whole chunks.
		chunk := uint64(p.ChunkSectors) * sector
		data = (data + chunk - 1) / chunk * chunk
		if err := sizeChange(lvRef{r.VG, r.LV + "_tdata"}, p.DataBytes, data); err != nil {
			return err
		}
	}
	if err := a.growPool(ctx, cl, r, data, meta); err != nil {
		return err
	}
	if data != 0 {
		a.printf("  Size of logical volume %s/%s_tdata changed from %s to %s.\n", r.VG, r.LV, lvmSize(p.DataBytes), lvmSize(data))
	}
	if meta != 0 {
		a.printf("  Size of logical volume %s/%s_tmeta changed from %s to %s.\n", r.VG, r.LV, lvmSize(p.MetaBytes), lvmSize(meta))
	}
	a.printf("  Logical volume %s successfully resized.\n", r)
	return nil
}

// sizeChange refuses what LVM refuses: the same size, or smaller.
func sizeChange(r lvRef, cur, n uint64) error {
	switch {
	case n == cur:
		return failf("New size (%s) matches existing size (%s) of %s; give a larger size or +SIZE", lvmSize(n), lvmSize(cur), r)
	case n < cur:
		return notShrink()
	}
	return nil
}

// lvmSize is LVM's "1.00 GiB (256 extents)".
func lvmSize(b uint64) string {
	ext := (b + extentBytes - 1) / extentBytes
	unit := "extents"
	if ext == 1 {
		unit = "extent"
	}
	return fmt.Sprintf("%s (%d %s)", human(b), ext, unit)
}

// growPool records a pool's new total sizes (0 = unchanged); the pool's
// agent grows the backing devices and the kernel pool.
func (a *app) growPool(ctx context.Context, cl API, r lvRef, data, meta uint64) error {
	if _, err := cl.GrowPool(ctx, r.VG, r.LV, api.PoolGrowRequest{DataBytes: data, MetaBytes: meta}); err != nil {
		return apiErr("extend thin pool "+r.String(), err)
	}
	return nil
}
