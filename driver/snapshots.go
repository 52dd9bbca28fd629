package driver

import (
	"context"

	"github.com/thinraft/thinraft/cluster/api"
)

// CreateSnapshot is create_snapshot: a thin snapshot of the source volume
// named _snapshot-<id> (Cinder's LVM naming), its thinraft uuid the Cinder
// id. Like LVM's thin snapshots it is not activated. It returns when the
// pool's agent has created it; a repeated call for the same id succeeds
// without a second snapshot.
func (d *Driver) CreateSnapshot(ctx context.Context, s Snapshot) (ModelUpdate, error) {
	if err := checkSnapshot(s, "create_snapshot"); err != nil {
		return nil, err
	}
	name, origin := SnapshotName(s), snapshotSource(s)
	req := api.SnapshotCreateRequest{Name: name, UUID: uuidOf(s.ID)}
	r, err := d.api.CreateSnapshot(ctx, d.cfg.VG, origin, req, d.wait())
	if err != nil {
		return nil, d.replayed(ctx, s.ID, name, err, "create_snapshot %s of %s", name, origin)
	}
	if err := d.finish(ctx, r); err != nil {
		return nil, wrap(err, "create_snapshot %s of %s", name, origin)
	}
	d.log.Info("create_snapshot", "snapshot", name, "origin", origin)
	return nil, nil
}

// DeleteSnapshot is delete_snapshot. A snapshot that does not exist is
// taken as already deleted (logged, success), as Cinder's LVM driver does.
// Volumes made from the snapshot are independent thin devices and stay.
func (d *Driver) DeleteSnapshot(ctx context.Context, s Snapshot) error {
	if s.ID == "" && s.Name == "" {
		return errorf(KindInvalid, "delete_snapshot: snapshot id is required")
	}
	return d.deleteLV(ctx, SnapshotName(s), "delete_snapshot")
}
