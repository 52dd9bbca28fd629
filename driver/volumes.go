package driver

import (
	"context"
	"errors"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// CreateVolume is create_volume: a thin volume of volume.Size GiB named
// volume-<id> whose thinraft uuid is the Cinder id, placed in the pool the
// scheduler chose (host "...#pool") or else the pool with the most free
// capacity. It returns when the pool's agent has created the thin device.
// A repeated call for the same id succeeds without creating a second one.
func (d *Driver) CreateVolume(ctx context.Context, v Volume) (ModelUpdate, error) {
	if err := checkVolume(v, "create_volume"); err != nil {
		return nil, err
	}
	name := VolumeName(v)
	pool, err := d.place(ctx, v.Host)
	if err != nil {
		return nil, err
	}
	req := api.VolumeCreateRequest{Name: name, Pool: pool, SizeBytes: uint64(v.Size) * gib, UUID: uuidOf(v.ID)}
	r, err := d.api.CreateVolume(ctx, d.cfg.VG, req, d.wait())
	if err != nil {
		return nil, d.replayed(ctx, v.ID, name, err, "create_volume %s in pool %s", name, pool)
	}
	if err := d.finish(ctx, r); err != nil {
		return nil, wrap(err, "create_volume %s in pool %s", name, pool)
	}
	d.log.Info("create_volume", "volume", name, "pool", pool, "size_gb", v.Size)
	return nil, nil
}

// replayed decides whether a create refused because its name exists was
// in fact an earlier attempt of the same call: the volume carries the
// Cinder id as its uuid. Then it waits for that attempt to finish and
// answers as it does; otherwise it returns the refusal.
func (d *Driver) replayed(ctx context.Context, id, name string, err error, format string, args ...any) error {
	if !errors.Is(err, client.ErrExists) && !errors.Is(err, client.ErrConflict) {
		return wrap(err, format, args...)
	}
	u := uuidOf(id)
	cur, lerr := d.lookup(ctx, name)
	if lerr != nil || cur == nil {
		return wrap(err, format, args...)
	}
	if u == "" || cur.UUID != u {
		return &Error{Kind: KindExists, Message: "name " + name + " is taken by volume " + cur.UUID + ", not by Cinder's " + id, Err: err}
	}
	cur, serr := d.settle(ctx, name)
	if serr != nil {
		return wrap(serr, format, args...)
	}
	if cur.State == metadata.VolumeFailed {
		return errorf(KindBackend, "%s: the earlier attempt failed: %s; delete the volume", name, cur.Reason)
	}
	d.log.Info("create repeated: the volume exists with this id", "volume", name, "uuid", cur.UUID)
	return nil
}

// DeleteVolume is delete_volume. A volume that does not exist is taken as
// already deleted (logged, success), as Cinder's LVM driver does; one an
// NBD client has open is refused as busy.
func (d *Driver) DeleteVolume(ctx context.Context, v Volume) error {
	if v.ID == "" && v.Name == "" {
		return errorf(KindInvalid, "delete_volume: volume id is required")
	}
	return d.deleteLV(ctx, VolumeName(v), "delete_volume")
}

func (d *Driver) deleteLV(ctx context.Context, name, what string) error {
	r, err := d.api.DeleteVolume(ctx, d.cfg.VG, name, d.wait())
	if errors.Is(err, client.ErrNotFound) {
		d.log.Warn(what+": not found, it seems it was already deleted", "volume", name)
		return nil
	}
	if errors.Is(err, client.ErrConflict) {
		// A delete already under way (a retry) is waited for; anything
		// else (open, a pending operation) is busy.
		if cur, lerr := d.lookup(ctx, name); lerr == nil && cur != nil && cur.State == metadata.VolumeDeleting {
			return d.waitGone(ctx, name, what)
		} else if lerr == nil && cur == nil {
			return nil
		}
		return &Error{Kind: KindBusy, Message: what + " " + d.cfg.VG + "/" + name, Err: err}
	}
	if err != nil {
		return wrap(err, "%s %s", what, name)
	}
	if err := d.finish(ctx, r); err != nil {
		return wrap(err, "%s %s", what, name)
	}
	d.log.Info(what, "volume", name)
	return nil
}

// waitGone polls until name no longer exists.
func (d *Driver) waitGone(ctx context.Context, name, what string) error {
	v, err := d.settle(ctx, name)
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	if err != nil {
		return wrap(err, "%s %s", what, name)
	}
	return errorf(KindBusy, "%s %s: the volume is %s", what, name, v.State)
}

// ExtendVolume is extend_volume: the volume's size becomes newSize GiB.
// Extending to the size it already has succeeds (a retry); shrinking is
// refused, since Cinder never shrinks and a thin volume cannot.
func (d *Driver) ExtendVolume(ctx context.Context, v Volume, newSize int64) error {
	name := VolumeName(v)
	if v.ID == "" && v.Name == "" {
		return errorf(KindInvalid, "extend_volume: volume id is required")
	}
	if newSize <= 0 || newSize > metadata.MaxSizeBytes/gib {
		return errorf(KindInvalid, "extend_volume %s: new size %d GiB: want a positive number of GiB", name, newSize)
	}
	return d.resize(ctx, name, uint64(newSize)*gib, "extend_volume")
}

func (d *Driver) resize(ctx context.Context, name string, bytes uint64, what string) error {
	cur, err := d.api.Volume(ctx, d.cfg.VG, name)
	if err != nil {
		return wrap(err, "%s %s", what, name)
	}
	switch {
	case cur.SizeBytes == bytes:
		return nil
	case cur.SizeBytes > bytes:
		return errorf(KindInvalid, "%s %s: new size %d bytes is smaller than the current %d; thin volumes do not shrink", what, name, bytes, cur.SizeBytes)
	}
	if _, err := d.api.PatchVolume(ctx, d.cfg.VG, name, api.VolumePatchRequest{SizeBytes: &bytes}); err != nil {
		return wrap(err, "%s %s to %d bytes", what, name, bytes)
	}
	d.log.Info(what, "volume", name, "size_bytes", bytes)
	return nil
}

// CreateVolumeFromSnapshot is create_volume_from_snapshot: a thin snapshot
// of the snapshot's LV, named like a volume, active, extended to
// volume.Size when that is larger than the snapshot.
func (d *Driver) CreateVolumeFromSnapshot(ctx context.Context, v Volume, s Snapshot) (ModelUpdate, error) {
	if err := checkVolume(v, "create_volume_from_snapshot"); err != nil {
		return nil, err
	}
	if err := checkSnapshot(s, "create_volume_from_snapshot"); err != nil {
		return nil, err
	}
	return nil, d.snapInto(ctx, v, SnapshotName(s), "create_volume_from_snapshot")
}

// CreateClonedVolume is create_cloned_volume: a thin snapshot of the
// source volume named like a volume, active, extended to volume.Size when
// that is larger (Cinder's LVM driver clones thin volumes the same way).
func (d *Driver) CreateClonedVolume(ctx context.Context, v Volume, src Volume) (ModelUpdate, error) {
	if err := checkVolume(v, "create_cloned_volume"); err != nil {
		return nil, err
	}
	if src.ID == "" && src.Name == "" {
		return nil, errorf(KindInvalid, "create_cloned_volume: src_vref id is required")
	}
	return nil, d.snapInto(ctx, v, VolumeName(src), "create_cloned_volume")
}

// snapInto makes volume v a thin snapshot of origin. The new volume lives
// in origin's pool whatever the scheduler's host says: a thin snapshot
// shares the origin's blocks.
func (d *Driver) snapInto(ctx context.Context, v Volume, origin, what string) error {
	name := VolumeName(v)
	want := uint64(v.Size) * gib
	src, err := d.api.Volume(ctx, d.cfg.VG, origin)
	if err != nil {
		return wrap(err, "%s %s: source %s", what, name, origin)
	}
	if want < src.SizeBytes {
		return errorf(KindInvalid, "%s %s: size %d GiB is smaller than the source %s (%d bytes)", what, name, v.Size, origin, src.SizeBytes)
	}
	if p := poolOfHost(v.Host); p != "" && p != src.Pool {
		if sp, perr := d.poolByUUID(ctx, src.Pool); perr == nil && sp.Name != p {
			d.log.Warn(what+": placed in the source's pool, not the scheduler's", "volume", name, "pool", sp.Name, "host", v.Host)
		}
	}
	req := api.SnapshotCreateRequest{Name: name, UUID: uuidOf(v.ID), NoActivationSkip: true}
	r, err := d.api.CreateSnapshot(ctx, d.cfg.VG, origin, req, d.wait())
	if err != nil {
		if err := d.replayed(ctx, v.ID, name, err, "%s %s from %s", what, name, origin); err != nil {
			return err
		}
	} else if err := d.finish(ctx, r); err != nil {
		return wrap(err, "%s %s from %s", what, name, origin)
	}
	if err := d.resize(ctx, name, want, what); err != nil {
		return err
	}
	d.log.Info(what, "volume", name, "origin", origin, "size_gb", v.Size)
	return nil
}

func (d *Driver) poolByUUID(ctx context.Context, uuid string) (*metadata.Pool, error) {
	pools, err := d.api.Pools(ctx, d.cfg.VG)
	if err != nil {
		return nil, err
	}
	for i := range pools {
		if pools[i].UUID == uuid {
			return &pools[i], nil
		}
	}
	return nil, errorf(KindNotFound, "pool %s not in VG %s", uuid, d.cfg.VG)
}

// RevertToSnapshot is revert_to_snapshot: the volume's thin device is
// replaced by a snapshot of the snapshot (thinraft's thin revert, which
// Cinder's LVM driver lacks for thin volumes). The snapshot stays. When
// Cinder's size of the volume is larger than the snapshot's, the volume is
// extended back to it.
func (d *Driver) RevertToSnapshot(ctx context.Context, v Volume, s Snapshot) error {
	if v.ID == "" && v.Name == "" {
		return errorf(KindInvalid, "revert_to_snapshot: volume id is required")
	}
	if err := checkSnapshot(s, "revert_to_snapshot"); err != nil {
		return err
	}
	name, snap := VolumeName(v), SnapshotName(s)
	r, err := d.api.Revert(ctx, d.cfg.VG, name, snap, d.wait())
	if err != nil {
		return wrap(err, "revert_to_snapshot %s to %s", name, snap)
	}
	if err := d.finish(ctx, r); err != nil {
		return wrap(err, "revert_to_snapshot %s to %s", name, snap)
	}
	if v.Size > 0 {
		if err := d.resize(ctx, name, uint64(v.Size)*gib, "revert_to_snapshot"); err != nil && !errors.Is(err, ErrInvalid) {
			return err
		}
	}
	d.log.Info("revert_to_snapshot", "volume", name, "snapshot", snap)
	return nil
}

// MigrateVolume is migrate_volume. Moving a volume between pools or nodes
// is the migration issue's work; until it lands the call fails with
// KindNotSupported rather than pretend.
func (d *Driver) MigrateVolume(ctx context.Context, v Volume, host MigrateHost) (bool, ModelUpdate, error) {
	return false, nil, errorf(KindNotSupported,
		"migrate_volume %s to %s: not supported yet (thinraft's pool-to-pool migration is not built); use Cinder's host-assisted migration (cinder migrate --force-host-copy True)",
		VolumeName(v), host.Host)
}
