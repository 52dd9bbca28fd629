package metadata

// Volume and snapshot commands. Each validates completely, then reserves a
// thin id (the last step that can fail), then changes the model and queues
// its intents.

// newObject checks what every new volume needs: a free uuid, a valid free
// name in an existing VG within its quota, valid tags.
func (s *state) newObject(uuid, vg, name string, tags []string) (*vgEntry, []string, *Error) {
	if err := validateUUID("volume", uuid); err != nil {
		return nil, nil, err
	}
	if err := ValidateLVName(name); err != nil {
		return nil, nil, err
	}
	e := s.vgs[vg]
	if e == nil {
		return nil, nil, errf(CodeNotFound, "VG %s not found", vg)
	}
	if s.volumes.get(uuid) != nil {
		return nil, nil, errf(CodeExists, "volume uuid %s already in use", uuid)
	}
	if _, ok := s.pools[uuid]; ok {
		return nil, nil, errf(CodeExists, "uuid %s is a pool's", uuid)
	}
	if err := nameFree(e, name); err != nil {
		return nil, nil, err
	}
	tags, err := normalizeTags(tags)
	if err != nil {
		return nil, nil, err
	}
	if err := checkQuota(e); err != nil {
		return nil, nil, err
	}
	return e, tags, nil
}

func (s *state) volumeCreate(c *applyCtx, p VolumeCreate) *Result {
	_, tags, err := s.newObject(p.UUID, p.VG, p.Name, p.Tags)
	if err != nil {
		return &Result{Err: err}
	}
	if err := validateSize("volume size", p.SizeBytes); err != nil {
		return &Result{Err: err}
	}
	if p.Pool == "" {
		return &Result{Err: errf(CodeInvalid, "volume %s/%s: no pool given", p.VG, p.Name)}
	}
	pe, err := s.resolvePool(p.VG, p.Pool)
	if err != nil {
		return &Result{Err: err}
	}
	if err := s.writable(pe); err != nil {
		return &Result{Err: err}
	}
	id, err := pe.allocThin(p.UUID)
	if err != nil {
		return &Result{Err: err}
	}
	v := &Volume{UUID: p.UUID, VG: p.VG, Name: p.Name, Pool: pe.pool.UUID, ThinID: id, SizeBytes: p.SizeBytes,
		State: VolumeCreating, ReadOnly: p.ReadOnly, ActivationSkip: p.ActivationSkip, Active: !p.ActivationSkip,
		CreatedAt: c.at, UpdatedAt: c.at, Tags: tags}
	v = s.addVolume(v)
	in := s.enqueue(c, pe, Intent{Op: OpCreateThin, Volume: v.UUID, ThinID: id, SizeBytes: v.SizeBytes})
	return &Result{UUID: v.UUID, Intents: []string{in.ID}}
}

func (s *state) snapshotCreate(c *applyCtx, p SnapshotCreate) *Result {
	o, err := s.resolveVolume(p.Origin)
	if err != nil {
		return &Result{Err: err}
	}
	if o.State != VolumeActive && o.State != VolumeCreating {
		return &Result{Err: errf(CodeConflict, "origin %s/%s is %s", o.VG, o.Name, o.State)}
	}
	_, tags, err := s.newObject(p.UUID, o.VG, p.Name, p.Tags)
	if err != nil {
		return &Result{Err: err}
	}
	pe := s.pools[o.Pool]
	if err := s.writable(pe); err != nil {
		return &Result{Err: err}
	}
	id, err := pe.allocThin(p.UUID)
	if err != nil {
		return &Result{Err: err}
	}
	v := &Volume{UUID: p.UUID, VG: o.VG, Name: p.Name, Pool: o.Pool, ThinID: id, SizeBytes: o.SizeBytes,
		Origin: o.UUID, IsSnapshot: true, State: VolumeCreating, ReadOnly: p.ReadOnly,
		ActivationSkip: !p.NoActivationSkip, Active: p.NoActivationSkip, CreatedAt: c.at, UpdatedAt: c.at, Tags: tags}
	v = s.addVolume(v)
	in := s.enqueue(c, pe, Intent{Op: OpCreateSnap, Volume: v.UUID, ThinID: id, Origin: o.ThinID, SizeBytes: v.SizeBytes})
	return &Result{UUID: v.UUID, Intents: []string{in.ID}}
}

// changeable resolves a volume that a record-only change may touch.
func (s *state) changeable(r VolumeRef) (*Volume, *Error) {
	v, err := s.resolveVolume(r)
	if err != nil {
		return nil, err
	}
	if v.State == VolumeDeleting {
		return nil, errf(CodeConflict, "volume %s/%s is being deleted", v.VG, v.Name)
	}
	return v, nil
}

func (s *state) volumeExtend(c *applyCtx, p VolumeExtend) *Result {
	v, err := s.changeable(p.Volume)
	if err != nil {
		return &Result{Err: err}
	}
	if v.State != VolumeActive && v.State != VolumeCreating {
		return &Result{Err: errf(CodeConflict, "volume %s/%s is %s", v.VG, v.Name, v.State)}
	}
	if err := validateSize("volume size", p.SizeBytes); err != nil {
		return &Result{Err: err}
	}
	if p.SizeBytes <= v.SizeBytes {
		return &Result{Err: errf(CodeInvalid, "new size %d is not larger than %d: volumes only grow", p.SizeBytes, v.SizeBytes)}
	}
	v.SizeBytes, v.UpdatedAt = p.SizeBytes, c.at
	return &Result{UUID: v.UUID}
}

func (s *state) volumeRename(c *applyCtx, p VolumeRename) *Result {
	v, err := s.changeable(p.Volume)
	if err != nil {
		return &Result{Err: err}
	}
	if err := ValidateLVName(p.NewName); err != nil {
		return &Result{Err: err}
	}
	if p.NewName == v.Name {
		return &Result{Err: errf(CodeInvalid, "volume %s/%s: old and new names are the same", v.VG, v.Name)}
	}
	if err := nameFree(s.vgs[v.VG], p.NewName); err != nil {
		return &Result{Err: err}
	}
	s.renameVolume(v, p.NewName)
	v.UpdatedAt = c.at
	return &Result{UUID: v.UUID}
}

func (s *state) volumeSetTags(c *applyCtx, p VolumeSetTags) *Result {
	v, err := s.changeable(p.Volume)
	if err != nil {
		return &Result{Err: err}
	}
	tags, err := normalizeTags(p.Tags)
	if err != nil {
		return &Result{Err: err}
	}
	v.Tags, v.UpdatedAt = tags, c.at
	return &Result{UUID: v.UUID}
}

func (s *state) volumeSetReadOnly(c *applyCtx, p VolumeSetReadOnly) *Result {
	v, err := s.changeable(p.Volume)
	if err != nil {
		return &Result{Err: err}
	}
	v.ReadOnly, v.UpdatedAt = p.ReadOnly, c.at
	return &Result{UUID: v.UUID}
}

func (s *state) volumeSetActive(c *applyCtx, p VolumeSetActive) *Result {
	v, err := s.changeable(p.Volume)
	if err != nil {
		return &Result{Err: err}
	}
	if !p.Active && v.Open {
		return &Result{Err: errf(CodeConflict, "volume %s/%s is in use (open by an NBD client); disconnect it before deactivating", v.VG, v.Name)}
	}
	if v.Active != p.Active {
		v.Active, v.UpdatedAt = p.Active, c.at
	}
	return &Result{UUID: v.UUID}
}

func (s *state) volumeSetActivationSkip(c *applyCtx, p VolumeSetActivationSkip) *Result {
	v, err := s.changeable(p.Volume)
	if err != nil {
		return &Result{Err: err}
	}
	if v.ActivationSkip != p.Skip {
		v.ActivationSkip, v.UpdatedAt = p.Skip, c.at
	}
	return &Result{UUID: v.UUID}
}

func (s *state) volumeDelete(c *applyCtx, p VolumeDelete) *Result {
	v, err := s.resolveVolume(p.Volume)
	if err != nil {
		return &Result{Err: err}
	}
	switch v.State {
	case VolumeFailed:
		// Nothing in the kernel: the intent that would have made the thin
		// device was abandoned before it touched the kernel. (v's slot is
		// cleared by the removal: answer with the uuid taken before.)
		uuid := v.UUID
		s.removeVolume(v)
		return &Result{UUID: uuid}
	case VolumeDeleting:
		return &Result{Err: errf(CodeConflict, "volume %s/%s is already being deleted", v.VG, v.Name)}
	case VolumeCreating, VolumeReverting:
		return &Result{Err: errf(CodeConflict, "volume %s/%s is %s; delete it when that finishes", v.VG, v.Name, v.State)}
	}
	if v.Open {
		return &Result{Err: errf(CodeConflict, "volume %s/%s is in use (open by an NBD client); disconnect it first", v.VG, v.Name)}
	}
	pe := s.pools[v.Pool]
	if err := s.writable(pe); err != nil {
		return &Result{Err: err}
	}
	v.State, v.UpdatedAt = VolumeDeleting, c.at
	in := s.enqueue(c, pe, Intent{Op: OpDelete, Volume: v.UUID, ThinID: v.ThinID})
	return &Result{UUID: v.UUID, Intents: []string{in.ID}}
}

func (s *state) volumeRevert(c *applyCtx, p VolumeRevert) *Result {
	v, err := s.resolveVolume(p.Volume)
	if err != nil {
		return &Result{Err: err}
	}
	snap, err := s.resolveVolume(p.Snapshot)
	if err != nil {
		return &Result{Err: err}
	}
	if !snap.IsSnapshot || snap.Origin != v.UUID {
		return &Result{Err: errf(CodeInvalid, "%s/%s is not a snapshot of %s/%s", snap.VG, snap.Name, v.VG, v.Name)}
	}
	if v.State != VolumeActive && v.State != VolumeFailed {
		return &Result{Err: errf(CodeConflict, "volume %s/%s is %s", v.VG, v.Name, v.State)}
	}
	if snap.State != VolumeActive && snap.State != VolumeCreating {
		return &Result{Err: errf(CodeConflict, "snapshot %s/%s is %s", snap.VG, snap.Name, snap.State)}
	}
	pe := s.pools[v.Pool]
	if err := s.writable(pe); err != nil {
		return &Result{Err: err}
	}
	id, err := pe.allocThin(v.UUID)
	if err != nil {
		return &Result{Err: err}
	}
	var ids []string
	if v.ThinID != 0 {
		in := s.enqueue(c, pe, Intent{Op: OpDelete, Volume: v.UUID, ThinID: v.ThinID, Revert: true})
		ids = append(ids, in.ID)
	}
	in := s.enqueue(c, pe, Intent{Op: OpCreateSnap, Volume: v.UUID, ThinID: id, Origin: snap.ThinID,
		SizeBytes: snap.SizeBytes, Revert: true})
	ids = append(ids, in.ID)
	v.State, v.Reason, v.UpdatedAt = VolumeReverting, "", c.at
	return &Result{UUID: v.UUID, Intents: ids}
}
