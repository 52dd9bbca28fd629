package driver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// cinderTag marks a volume taken over by manage_existing with the Cinder
// id it now belongs to (its uuid cannot change to that id).
const cinderTag = "cinder-id:"

// sourceName reads manage_existing's reference {"source-name": "<lv>"}.
func sourceName(ref ExistingRef, what string) (string, error) {
	raw, ok := ref["source-name"]
	if !ok {
		return "", errorf(KindInvalidRef, "%s: reference %v has no source-name; give {\"source-name\": \"<volume name in VG>\"}", what, map[string]any(ref))
	}
	s, ok := raw.(string)
	if !ok || s == "" {
		return "", errorf(KindInvalidRef, "%s: source-name must be a non-empty string", what)
	}
	return s, nil
}

func sizeGiB(bytes uint64) int64 { return int64((bytes + gib - 1) / gib) }

// ManageExistingGetSize is manage_existing_get_size: the volume's size in
// GiB, rounded up (manage_existing grows it to that, so Cinder's size is
// the export's).
func (d *Driver) ManageExistingGetSize(ctx context.Context, v Volume, ref ExistingRef) (int64, error) {
	src, err := sourceName(ref, "manage_existing_get_size")
	if err != nil {
		return 0, err
	}
	cur, err := d.manageable(ctx, v, src, "manage_existing_get_size")
	if err != nil {
		return 0, err
	}
	return sizeGiB(cur.SizeBytes), nil
}

// manageable looks up the volume a reference names and refuses what
// cannot be managed.
func (d *Driver) manageable(ctx context.Context, v Volume, src, what string) (*metadata.Volume, error) {
	cur, err := d.api.Volume(ctx, d.cfg.VG, src)
	if errors.Is(err, client.ErrNotFound) {
		return nil, errorf(KindInvalidRef, "%s: no volume %s/%s; get_manageable_volumes lists the candidates", what, d.cfg.VG, src)
	}
	if err != nil {
		return nil, wrap(err, "%s %s", what, src)
	}
	if id, ok := managedBy(*cur); ok && id != v.ID {
		return nil, errorf(KindAlreadyManaged, "%s: volume %s/%s is already Cinder volume %s", what, d.cfg.VG, src, id)
	}
	if cur.State != metadata.VolumeActive {
		return nil, errorf(KindInvalidRef, "%s: volume %s/%s is %s; only a settled (active) volume can be managed", what, d.cfg.VG, src, cur.State)
	}
	return cur, nil
}

// managedBy returns the Cinder id a volume belongs to by the driver's own
// marks: the cinder-id tag, or a "volume-<id>" name whose id is its uuid
// (created by this driver). Volumes named like Cinder's by hand are not
// claimed here: get_manageable_volumes checks them against Cinder's list.
func managedBy(v metadata.Volume) (string, bool) {
	for _, t := range v.Tags {
		if id, ok := strings.CutPrefix(t, cinderTag); ok {
			return id, true
		}
	}
	if id, ok := strings.CutPrefix(v.Name, "volume-"); ok && uuidOf(id) != "" && uuidOf(id) == v.UUID {
		return id, true
	}
	return "", false
}

// ManageExisting is manage_existing: the volume the reference names is
// renamed to volume-<id>, grown to whole GiB, and tagged with the Cinder
// id. Repeating the call after it succeeded succeeds (the source is gone,
// the target carries the tag).
func (d *Driver) ManageExisting(ctx context.Context, v Volume, ref ExistingRef) (ModelUpdate, error) {
	if v.ID == "" {
		return nil, errorf(KindInvalid, "manage_existing: volume id is required")
	}
	src, err := sourceName(ref, "manage_existing")
	if err != nil {
		return nil, err
	}
	name := VolumeName(v)
	cur, err := d.manageable(ctx, v, src, "manage_existing")
	if errors.Is(err, ErrInvalidRef) && src != name {
		if done, lerr := d.lookup(ctx, name); lerr == nil && done != nil {
			if id, ok := managedBy(*done); ok && id == v.ID {
				return nil, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	tag := cinderTag + v.ID
	req := api.VolumePatchRequest{}
	if size := uint64(sizeGiB(cur.SizeBytes)) * gib; size != cur.SizeBytes {
		req.SizeBytes = &size
	}
	if !slices.Contains(cur.Tags, tag) {
		tags := append(slices.Clone(cur.Tags), tag)
		req.Tags = &tags
	}
	if src != name {
		req.NewName = &name
	}
	if req.SizeBytes == nil && req.Tags == nil && req.NewName == nil {
		return nil, nil
	}
	if _, err := d.api.PatchVolume(ctx, d.cfg.VG, src, req); err != nil {
		return nil, wrap(err, "manage_existing %s as %s", src, name)
	}
	d.log.Info("manage_existing", "source", src, "volume", name, "uuid", cur.UUID)
	return nil, nil
}

// GetManageableVolumes is get_manageable_volumes: every volume of the
// backend's pools that is not a Cinder snapshot (_snapshot-*), in Cinder's
// dict shape, sorted and paged as Cinder's paginate_entries_list does.
// cinderVolumes are the volumes Cinder already has on this host.
func (d *Driver) GetManageableVolumes(ctx context.Context, cinderVolumes []Volume, marker map[string]string, limit, offset *int,
	sortKeys, sortDirs []string) ([]ManageableVolume, error) {
	pools, _, err := d.pools(ctx)
	if err != nil {
		return nil, err
	}
	inBackend := map[string]string{}
	for _, p := range pools {
		inBackend[p.UUID] = p.Name
	}
	known := map[string]bool{}
	for _, cv := range cinderVolumes {
		known[cv.ID] = true
	}
	var entries []ManageableVolume
	lo := client.ListOptions{Limit: 1000}
	for {
		page, err := d.api.Volumes(ctx, d.cfg.VG, lo)
		if err != nil {
			return nil, wrap(err, "get_manageable_volumes: list VG %s", d.cfg.VG)
		}
		for _, vol := range page.Volumes {
			pool, ok := inBackend[vol.Pool]
			if !ok || strings.HasPrefix(vol.Name, "_snapshot-") {
				continue
			}
			entries = append(entries, manageEntry(vol, pool, known))
		}
		if page.Next == "" {
			break
		}
		lo.After = page.Next
	}
	return paginate(entries, marker, limit, offset, sortKeys, sortDirs)
}

func manageEntry(v metadata.Volume, pool string, known map[string]bool) ManageableVolume {
	e := ManageableVolume{Reference: map[string]string{"source-name": v.Name}, Size: sizeGiB(v.SizeBytes), SafeToManage: true}
	extra := fmt.Sprintf("pool %s, uuid %s", pool, v.UUID)
	e.ExtraInfo = &extra
	not := func(reason string) {
		e.SafeToManage = false
		e.ReasonNotSafe = &reason
	}
	id, claimed := managedBy(v)
	if n, ok := strings.CutPrefix(v.Name, "volume-"); ok && known[n] {
		id, claimed = n, true
	}
	switch {
	case claimed && known[id]:
		not("Already managed")
		e.CinderID = &id
	case v.Open:
		not("Volume in use")
	case v.State != metadata.VolumeActive:
		not("Volume is " + string(v.State))
	}
	return e
}
