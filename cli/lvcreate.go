package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
	ucli "github.com/urfave/cli/v3"
)

// lvcreate creates thin pools, thin volumes and thin snapshots with
// lvcreate(8)'s options; linear, mirrored, raid, cache and COW LVs are
// refused (exit 3).
func (a *app) lvcreateCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "lvcreate",
		Usage:     "create a thin pool, a thin volume or a thin snapshot",
		ArgsUsage: "VG | VG/ThinPoolLV | VG/OriginLV",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "virtualsize", Aliases: []string{"V"}, Usage: "thin volume size (default unit MiB)"},
			&ucli.StringFlag{Name: "size", Aliases: []string{"L"}, Usage: "thin pool data size (default unit MiB)"},
			&ucli.StringFlag{Name: "extents", Aliases: []string{"l"}, Usage: "pool data size in 4 MiB extents"},
			&ucli.BoolFlag{Name: "thin", Aliases: []string{"T"}, Usage: "create a thin pool or a thin volume"},
			&ucli.StringFlag{Name: "thinpool", Usage: "the pool: POOL or VG/POOL"},
			&ucli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "name of the new LV"},
			&ucli.BoolFlag{Name: "snapshot", Aliases: []string{"s"}, Usage: "create a thin snapshot of the LV named"},
			&ucli.StringFlag{Name: "type", Usage: "thin | thin-pool"},
			&ucli.StringFlag{Name: "setactivationskip", Aliases: []string{"k"}, Usage: "y|n: skip the LV in normal activation"},
			&ucli.BoolFlag{Name: "ignoreactivationskip", Aliases: []string{"K"}, Usage: "activate even with the activation skip flag"},
			&ucli.StringFlag{Name: "chunksize", Aliases: []string{"c"}, Usage: "pool chunk size (default unit KiB, 64k..1g)"},
			&ucli.StringFlag{Name: "zero", Aliases: []string{"Z"}, Usage: "y|n: zero new pool blocks"},
			&ucli.StringFlag{Name: "discards", Usage: "passdown | nopassdown | ignore"},
			&ucli.StringFlag{Name: "poolmetadatasize", Usage: "pool metadata size (default unit MiB)"},
			&ucli.StringFlag{Name: "errorwhenfull", Usage: "y|n: fail writes at once when the pool is full"},
			&ucli.StringFlag{Name: "activate", Aliases: []string{"a"}, Usage: "y|n"},
			&ucli.StringFlag{Name: "permission", Aliases: []string{"p"}, Usage: "rw | r"},
			&ucli.StringSliceFlag{Name: "addtag", Usage: "tag the LV (repeatable)"},
			&ucli.StringFlag{Name: "node", Usage: "thinraft: node of a new pool (default: the up node with the fewest pools)"},
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "answer yes to prompts"},
			&ucli.StringFlag{Name: "wipesignatures", Aliases: []string{"W"}, Usage: "y|n (accepted; new thin volumes read as zeros)"},
			&ucli.StringFlag{Name: "monitor", Usage: "y|n (accepted; every pool is monitored)"},
			&ucli.StringFlag{Name: "poolmetadataspare", Usage: "y|n (accepted; no spare metadata LV)"},
			&ucli.StringFlag{Name: "mirrors", Aliases: []string{"m"}, Usage: "not supported"},
			&ucli.StringFlag{Name: "stripes", Aliases: []string{"i"}, Usage: "not supported"},
			&ucli.StringFlag{Name: "stripesize", Aliases: []string{"I"}, Usage: "not supported"},
		},
		Action: a.lvcreate,
	}
}

// lvcreatePlan is what a command line asks for, before any call.
type lvcreatePlan struct {
	VG string
	// Pool is set when a pool is to be created.
	Pool *api.PoolCreateRequest
	// PoolName is the pool of a new thin volume.
	PoolName string
	// Thin is set when a thin volume is to be created.
	Thin *api.VolumeCreateRequest
	// Origin is set for a snapshot (Snap holds its request).
	Origin   *lvRef
	Snap     *api.SnapshotCreateRequest
	Activate *bool
	// IgnoreSkip: -K.
	IgnoreSkip bool
}

// planLVCreate maps lvcreate's options to API requests. It makes no call:
// names it cannot know yet (lvol#, the node) are filled in later.
func planLVCreate(cmd *ucli.Command) (*lvcreatePlan, error) {
	p := &lvcreatePlan{}
	for _, f := range []string{"mirrors", "stripes", "stripesize"} {
		if cmd.IsSet(f) {
			return nil, notSupported("--"+f, "a pool's data lives on its node's storage")
		}
	}
	typ := cmd.String("type")
	switch typ {
	case "", "thin", "thin-pool", "snapshot":
	case "linear", "striped":
		return nil, notSupported("--type "+typ, "use -V SIZE with -T VG/POOL")
	default:
		return nil, notSupported("--type "+typ, "use --type thin or thin-pool")
	}
	args := cmd.Args().Slice()
	if len(args) > 1 {
		return nil, usagef("lvcreate takes one VG or VG/LV argument, got %q (thinraft places pools with --node, not PVs)", strings.Join(args, " "))
	}
	var pos lvRef
	if len(args) == 1 {
		pos = parseRef(args[0])
		if pos.VG == "" {
			pos = lvRef{VG: pos.LV}
		}
	}
	var tp lvRef
	if cmd.IsSet("thinpool") {
		tp = parseRef(cmd.String("thinpool"))
	}
	vg := pos.VG
	if tp.VG != "" {
		if vg != "" && vg != tp.VG {
			return nil, usagef("--thinpool %s is not in VG %s", tp, vg)
		}
		vg = tp.VG
	}
	if vg == "" {
		return nil, usagef("lvcreate needs a VG: give VG, VG/POOL or --thinpool VG/POOL")
	}
	p.VG = vg
	name := cmd.String("name")
	if strings.Contains(name, "/") {
		r := parseRef(name)
		if r.VG != vg {
			return nil, usagef("--name %s is not in VG %s", name, vg)
		}
		name = r.LV
	}
	var tags []string
	for _, t := range cmd.StringSlice("addtag") {
		tags = append(tags, strings.Split(t, ",")...)
	}
	readOnly := false
	if cmd.IsSet("permission") {
		switch cmd.String("permission") {
		case "r":
			readOnly = true
		case "rw":
		default:
			return nil, usagef("--permission %q: want r or rw", cmd.String("permission"))
		}
	}
	if cmd.IsSet("activate") {
		on, err := activation(cmd.String("activate"))
		if err != nil {
			return nil, err
		}
		p.Activate = &on
	}
	p.IgnoreSkip = cmd.Bool("ignoreactivationskip")
	var skip *bool
	if cmd.IsSet("setactivationskip") {
		k, err := yesNo("setactivationskip", cmd.String("setactivationskip"))
		if err != nil {
			return nil, err
		}
		skip = &k
	}
	hasL := cmd.IsSet("size") || cmd.IsSet("extents")
	hasV := cmd.IsSet("virtualsize")

	if cmd.Bool("snapshot") || typ == "snapshot" {
		if hasL {
			return nil, notSupported("a COW snapshot (lvcreate -s with -L/-l)", "leave out -L: thin snapshots take no size")
		}
		if hasV {
			return nil, notSupported("a sparse snapshot (lvcreate -s with -V)", "leave out -V: thin snapshots take their origin's size")
		}
		if pos.LV == "" {
			return nil, usagef("lvcreate -s needs the origin as VG/LV")
		}
		o := pos
		p.Origin = &o
		if tp.LV != "" {
			// An external origin (a non-thin LV) cannot exist here; a
			// --thinpool naming the origin's own pool is checked later.
			p.PoolName = tp.LV
		}
		p.Snap = &api.SnapshotCreateRequest{Name: name, ReadOnly: readOnly, Tags: tags}
		if skip != nil {
			p.Snap.NoActivationSkip = !*skip
		}
		return p, nil
	}

	wantPool := typ == "thin-pool" || (hasL && (cmd.Bool("thin") || tp.LV != "" || typ == "thin" || hasV))
	wantThin := hasV || typ == "thin"
	if hasL && !wantPool {
		return nil, notSupported("a linear LV (lvcreate -L without -T or --type thin-pool)", "create a pool with `lvcreate --type thin-pool -L SIZE -n POOL VG` and thin volumes with `-V SIZE -T VG/POOL`")
	}
	if wantThin && !hasV {
		return nil, usagef("--type thin needs -V|--virtualsize SIZE")
	}
	if !wantPool && !wantThin {
		if cmd.Bool("thin") {
			return nil, usagef("lvcreate -T needs -L SIZE (a new pool) or -V SIZE (a thin volume)")
		}
		return nil, usagef("lvcreate needs -V SIZE with -T VG/POOL (thin volume), -L SIZE with --type thin-pool (pool), or -s VG/LV (snapshot)")
	}
	if typ == "thin-pool" && hasV {
		return nil, usagef("--type thin-pool takes -L, not -V; drop --type to create a pool and a thin volume together")
	}

	// Which word names the pool: --thinpool, else the positional VG/LV,
	// else (pool alone) -n.
	poolName := tp.LV
	if poolName == "" && pos.LV != "" {
		poolName = pos.LV
	}
	if wantPool {
		if poolName == "" && !wantThin {
			poolName = name
		}
		req, err := poolRequest(cmd, poolName)
		if err != nil {
			return nil, err
		}
		req.Node = cmd.String("node")
		p.Pool = req
	}
	if cmd.IsSet("node") && !wantPool {
		return nil, usagef("--node places a new pool; a thin volume lives on its pool's node")
	}
	if wantThin {
		if poolName == "" {
			return nil, usagef("a thin volume needs its pool: -T VG/POOL or --thinpool POOL")
		}
		if wantPool && name == poolName {
			return nil, usagef("the pool and the thin volume cannot both be named %s", name)
		}
		sz, err := ParseSize(cmd.String("virtualsize"), mib)
		if err != nil {
			return nil, usagef("-V: %v", err)
		}
		if sz.Sign != 0 || sz.Bytes == 0 {
			return nil, usagef("-V %s: want a positive size", cmd.String("virtualsize"))
		}
		p.PoolName = poolName
		p.Thin = &api.VolumeCreateRequest{Name: name, Pool: poolName, SizeBytes: sz.Bytes, ReadOnly: readOnly, Tags: tags}
		if skip != nil {
			p.Thin.ActivationSkip = *skip
		}
	}
	return p, nil
}

// Pool defaults: LVM's thin_pool_chunk_size (64 KiB for the "generic"
// policy), thin_pool_zero=1, thin_pool_discards=passdown.
const (
	defaultChunk   = 64 * kib
	minPoolMeta    = 2 * mib
	maxPoolMeta    = 16 << 30
	metaPerChunk   = 64
	chunkMetaLimit = 128 * mib
)

func poolRequest(cmd *ucli.Command, name string) (*api.PoolCreateRequest, error) {
	var data uint64
	if cmd.IsSet("extents") {
		e, err := ParseExtents(cmd.String("extents"))
		if err != nil {
			return nil, usagef("-l: %v", err)
		}
		if e.Sign != 0 {
			return nil, usagef("-l %s: a new pool takes an absolute size", cmd.String("extents"))
		}
		data, err = e.Resolve(0, 0)
		if err != nil {
			return nil, usagef("-l: %v", err)
		}
	} else {
		sz, err := ParseSize(cmd.String("size"), mib)
		if err != nil {
			return nil, usagef("-L: %v", err)
		}
		if sz.Sign != 0 || sz.Bytes == 0 {
			return nil, usagef("-L %s: want a positive size", cmd.String("size"))
		}
		data = sz.Bytes
	}
	chunk := uint64(defaultChunk)
	if cmd.IsSet("chunksize") {
		sz, err := ParseSize(cmd.String("chunksize"), kib)
		if err != nil {
			return nil, usagef("--chunksize: %v", err)
		}
		if sz.Sign != 0 || sz.Bytes < 64*kib || sz.Bytes > 1<<30 || sz.Bytes%(64*kib) != 0 {
			return nil, usagef("--chunksize %s: want a multiple of 64 KiB from 64 KiB to 1 GiB", cmd.String("chunksize"))
		}
		chunk = sz.Bytes
	} else {
		// LVM's generic policy: grow the chunk until the mappings fit a
		// metadata device of 128 MiB.
		for data/chunk*metaPerChunk > chunkMetaLimit && chunk < 1<<30 {
			chunk *= 2
		}
	}
	// A pool is at least one chunk.
	data = (data + chunk - 1) / chunk * chunk
	meta := data / chunk * metaPerChunk
	if cmd.IsSet("poolmetadatasize") {
		sz, err := ParseSize(cmd.String("poolmetadatasize"), mib)
		if err != nil {
			return nil, usagef("--poolmetadatasize: %v", err)
		}
		if sz.Sign != 0 {
			return nil, usagef("--poolmetadatasize %s: a new pool takes an absolute size", cmd.String("poolmetadatasize"))
		}
		meta = sz.Bytes
	}
	meta = min(max(meta, minPoolMeta), maxPoolMeta)
	meta = (meta + mib - 1) / mib * mib
	req := &api.PoolCreateRequest{Name: name, ChunkSectors: uint32(chunk / sector), DataBytes: data, MetaBytes: meta,
		Zero: true, Discards: "passdown"}
	if cmd.IsSet("zero") {
		z, err := yesNo("zero", cmd.String("zero"))
		if err != nil {
			return nil, err
		}
		req.Zero = z
	}
	if cmd.IsSet("discards") {
		switch d := cmd.String("discards"); d {
		case "passdown", "nopassdown", "ignore":
			req.Discards = d
		default:
			return nil, usagef("--discards %q: want passdown, nopassdown or ignore", d)
		}
	}
	if cmd.IsSet("errorwhenfull") {
		e, err := yesNo("errorwhenfull", cmd.String("errorwhenfull"))
		if err != nil {
			return nil, err
		}
		req.ErrorIfNoSpace = e
	}
	return req, nil
}

func (a *app) lvcreate(ctx context.Context, cmd *ucli.Command) error {
	p, err := planLVCreate(cmd)
	if err != nil {
		return err
	}
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	if p.Origin != nil {
		return a.createSnapshot(ctx, cl, p)
	}
	if p.Pool != nil {
		if p.Pool.Name == "" {
			if p.Pool.Name, err = freeName(ctx, cl, p.VG); err != nil {
				return err
			}
		}
		if p.Thin != nil && p.Thin.Pool == "" {
			p.Thin.Pool = p.Pool.Name
		}
		if p.Pool.Node == "" {
			if p.Pool.Node, err = pickNode(ctx, cl); err != nil {
				return err
			}
		}
		if _, err := cl.CreatePool(ctx, p.VG, *p.Pool); err != nil {
			return createErr(fmt.Sprintf("create thin pool %s/%s", p.VG, p.Pool.Name), p.VG, p.Pool.Name, err)
		}
		a.printf("  Logical volume \"%s\" created.\n", p.Pool.Name)
	}
	if p.Thin == nil {
		return nil
	}
	if p.Thin.Name == "" {
		if p.Thin.Name, err = freeName(ctx, cl, p.VG); err != nil {
			return err
		}
	}
	what := fmt.Sprintf("create thin volume %s/%s", p.VG, p.Thin.Name)
	r, err := cl.CreateVolume(ctx, p.VG, *p.Thin, client.Wait(quickWait))
	if err != nil {
		return createErr(what, p.VG, p.Thin.Name, err)
	}
	if err := a.finish(ctx, cl, what, r); err != nil {
		return err
	}
	if err := a.applyActivation(ctx, cl, p, p.VG, p.Thin.Name, r.Volume); err != nil {
		return err
	}
	if err := a.warnOvercommit(ctx, cl, p.VG, p.Thin.Pool); err != nil {
		return err
	}
	a.printf("  Logical volume \"%s\" created.\n", p.Thin.Name)
	return nil
}

func (a *app) createSnapshot(ctx context.Context, cl API, p *lvcreatePlan) error {
	o := *p.Origin
	if p.PoolName != "" {
		ov, err := cl.Volume(ctx, o.VG, o.LV)
		if err != nil {
			return apiErr("snapshot origin "+o.String(), err)
		}
		pl, err := cl.Pool(ctx, o.VG, p.PoolName)
		if err != nil {
			return apiErr("--thinpool "+p.PoolName, err)
		}
		if pl.UUID != ov.Pool {
			return notSupported("a snapshot of an external origin (an LV outside --thinpool)", "snapshot a thin volume of the same pool")
		}
	}
	var err error
	if p.Snap.Name == "" {
		if p.Snap.Name, err = freeName(ctx, cl, o.VG); err != nil {
			return err
		}
	}
	what := fmt.Sprintf("create thin snapshot %s/%s of %s", o.VG, p.Snap.Name, o)
	r, err := cl.CreateSnapshot(ctx, o.VG, o.LV, *p.Snap, client.Wait(quickWait))
	if err != nil {
		return createErr(what, o.VG, p.Snap.Name, err)
	}
	if err := a.finish(ctx, cl, what, r); err != nil {
		return err
	}
	if err := a.applyActivation(ctx, cl, p, o.VG, p.Snap.Name, r.Volume); err != nil {
		return err
	}
	a.printf("  Logical volume \"%s\" created.\n", p.Snap.Name)
	return nil
}

// createErr is LVM's message for a name that is taken, else the API's.
func createErr(what, vg, name string, err error) error {
	if errors.Is(err, client.ErrExists) {
		return failf("Logical Volume \"%s\" already exists in volume group \"%s\"; choose another -n", name, vg)
	}
	return apiErr(what, err)
}

// applyActivation makes the new volume's desired activation what -a and
// -K asked for: LVM activates a new LV unless -an, or unless it carries
// the activation skip flag and -K was not given.
func (a *app) applyActivation(ctx context.Context, cl API, p *lvcreatePlan, vg, name string, v *metadata.Volume) error {
	if v == nil {
		return nil
	}
	want := v.Active
	switch {
	case p.Activate != nil && !*p.Activate:
		want = false
	case p.Activate != nil && (!v.ActivationSkip || p.IgnoreSkip):
		want = true
	case p.IgnoreSkip:
		want = true
	}
	if want == v.Active {
		return nil
	}
	if _, err := cl.SetActive(ctx, vg, name, want); err != nil {
		return apiErr(fmt.Sprintf("set activation of %s/%s", vg, name), err)
	}
	return nil
}
