package api

import (
	"cmp"
	"context"
	"net/http"

	"github.com/thinraft/thinraft/metadata"
)

// Write handlers run on the leader only (route forwards otherwise). Each
// builds the command the FSM validates; the leader supplies uuids and the
// timestamp here because Apply must not.

// apply commits one command and returns the FSM's result, or its refusal
// as an error.
func (s *Server) apply(ctx context.Context, typ metadata.CommandType, payload any) (*metadata.Result, error) {
	data, err := metadata.EncodeRequest(typ, s.cfg.Now(), requestKey(ctx), payload)
	if err != nil {
		return nil, err
	}
	res, err := s.cfg.Applier.Apply(ctx, data)
	if err != nil {
		return nil, err
	}
	mr, ok := res.Response.(*metadata.Result)
	if !ok || mr == nil {
		return nil, errorf(CodeInternal, "the state machine returned no result for "+string(typ))
	}
	if mr.Err != nil {
		return mr, mr.Err
	}
	return mr, nil
}

// answerOp answers a command that queued an operation: 202 with the
// operation while it is pending, or — when ?wait let it finish — done
// (status doneStatus) or abandoned (200, the operation says why). vol is
// the volume to report, looked up after the wait.
func (s *Server) answerOp(w http.ResponseWriter, r *http.Request, res *metadata.Result, vol string, doneStatus int) error {
	wait, err := s.waitParam(r)
	if err != nil {
		return err
	}
	op, err := s.waitOperation(r.Context(), opID(res), wait)
	if err != nil {
		return err
	}
	out := VolumeResponse{Operation: op}
	if v, ok := s.cfg.FSM.Volume(vol); ok {
		out.Volume = &v
	}
	status := http.StatusAccepted
	switch op.State {
	case OpDone:
		status = doneStatus
	case OpAbandoned:
		status = http.StatusOK
	}
	if status == http.StatusAccepted {
		w.Header().Set("Location", "/v1/operations/"+op.ID)
	}
	writeJSON(w, status, out)
	return nil
}

func (s *Server) createVG(w http.ResponseWriter, r *http.Request) error {
	var q VGCreateRequest
	if err := readJSON(r, &q); err != nil {
		return err
	}
	id, err := uuidOr(q.UUID)
	if err != nil {
		return err
	}
	if _, err := s.apply(r.Context(), metadata.CmdVGCreate, metadata.VGCreate{Name: q.Name, UUID: id, Tags: q.Tags, MaxVolumes: q.MaxVolumes}); err != nil {
		if !s.replayed(err, q.UUID, func(v metadata.View) bool { vg, ok := v.VG(q.Name); return ok && vg.UUID == q.UUID }) {
			return err
		}
	}
	var vg metadata.VG
	s.cfg.FSM.Read(func(v metadata.View) { vg, _ = v.VG(q.Name) })
	writeJSON(w, http.StatusCreated, VGResponse{VG: vg})
	return nil
}

func (s *Server) deleteVG(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.apply(r.Context(), metadata.CmdVGRemove, metadata.VGRemove{Name: r.PathValue("vg")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) createPool(w http.ResponseWriter, r *http.Request) error {
	var q PoolCreateRequest
	if err := readJSON(r, &q); err != nil {
		return err
	}
	id, err := uuidOr(q.UUID)
	if err != nil {
		return err
	}
	res, err := s.apply(r.Context(), metadata.CmdPoolAdd, metadata.PoolAdd{
		UUID: id, VG: r.PathValue("vg"), Name: q.Name, Node: q.Node, ChunkSectors: q.ChunkSectors,
		DataBytes: q.DataBytes, MetaBytes: q.MetaBytes, Zero: q.Zero, Discards: q.Discards,
		ErrorIfNoSpace: q.ErrorIfNoSpace, TxnID: q.TxnID,
	})
	if err != nil && !s.replayed(err, q.UUID, func(v metadata.View) bool {
		p, ok := v.Pool(q.UUID)
		return ok && p.Name == q.Name && p.VG == r.PathValue("vg")
	}) {
		return err
	}
	if res != nil && res.UUID != "" {
		id = res.UUID
	}
	var p metadata.Pool
	s.cfg.FSM.Read(func(v metadata.View) { p, _ = v.Pool(id) })
	writeJSON(w, http.StatusCreated, PoolResponse{Pool: p})
	return nil
}

func (s *Server) createVolume(w http.ResponseWriter, r *http.Request) error {
	var q VolumeCreateRequest
	if err := readJSON(r, &q); err != nil {
		return err
	}
	if _, err := s.waitParam(r); err != nil {
		return err
	}
	id, err := uuidOr(q.UUID)
	if err != nil {
		return err
	}
	res, err := s.apply(r.Context(), metadata.CmdVolumeCreate, metadata.VolumeCreate{
		UUID: id, VG: r.PathValue("vg"), Name: q.Name, Pool: q.Pool, SizeBytes: q.SizeBytes,
		ReadOnly: q.ReadOnly, ActivationSkip: q.ActivationSkip, Tags: q.Tags,
	})
	if err != nil {
		return s.replayVolume(w, r, err, q.UUID, r.PathValue("vg"), q.Name)
	}
	// A replayed result names the uuid the first attempt created.
	return s.answerOp(w, r, res, cmp.Or(res.UUID, id), http.StatusCreated)
}

func pathVolume(r *http.Request) metadata.VolumeRef {
	return metadata.VolumeRef{VG: r.PathValue("vg"), Name: r.PathValue("name")}
}

func (s *Server) deleteVolume(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.waitParam(r); err != nil {
		return err
	}
	res, err := s.apply(r.Context(), metadata.CmdVolumeDelete, metadata.VolumeDelete{Volume: pathVolume(r)})
	if err != nil {
		return err
	}
	return s.answerOp(w, r, res, res.UUID, http.StatusOK)
}

func (s *Server) createSnapshot(w http.ResponseWriter, r *http.Request) error {
	var q SnapshotCreateRequest
	if err := readJSON(r, &q); err != nil {
		return err
	}
	if _, err := s.waitParam(r); err != nil {
		return err
	}
	id, err := uuidOr(q.UUID)
	if err != nil {
		return err
	}
	res, err := s.apply(r.Context(), metadata.CmdSnapshotCreate, metadata.SnapshotCreate{
		UUID: id, Origin: pathVolume(r), Name: q.Name, ReadOnly: q.ReadOnly,
		NoActivationSkip: q.NoActivationSkip, Tags: q.Tags,
	})
	if err != nil {
		return s.replayVolume(w, r, err, q.UUID, r.PathValue("vg"), q.Name)
	}
	return s.answerOp(w, r, res, cmp.Or(res.UUID, id), http.StatusCreated)
}

func (s *Server) revertVolume(w http.ResponseWriter, r *http.Request) error {
	var q RevertRequest
	if err := readJSON(r, &q); err != nil {
		return err
	}
	if _, err := s.waitParam(r); err != nil {
		return err
	}
	snap := metadata.VolumeRef{VG: r.PathValue("vg"), Name: q.Snapshot}
	if looksLikeUUID(q.Snapshot) {
		snap = metadata.VolumeRef{UUID: q.Snapshot}
	}
	res, err := s.apply(r.Context(), metadata.CmdVolumeRevert, metadata.VolumeRevert{Volume: pathVolume(r), Snapshot: snap})
	if err != nil {
		return err
	}
	vol := res.UUID
	if vol == "" {
		if v, ok := s.cfg.FSM.VolumeByName(r.PathValue("vg"), r.PathValue("name")); ok {
			vol = v.UUID
		}
	}
	return s.answerOp(w, r, res, vol, http.StatusOK)
}

// looksLikeUUID: LVM names cannot be 36 characters of hex and dashes in
// the uuid pattern by accident often enough to matter, and a snapshot
// literally so named can still be given by its uuid.
func looksLikeUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// patchVolume applies the requested changes one command at a time (size,
// tags, read_only, then name, so the earlier ones address the old name).
func (s *Server) patchVolume(w http.ResponseWriter, r *http.Request) error {
	var q VolumePatchRequest
	if err := readJSON(r, &q); err != nil {
		return err
	}
	// The lookup must see every acknowledged rename and delete.
	if err := s.cfg.Applier.LinearizableRead(r.Context()); err != nil {
		return err
	}
	ref := pathVolume(r)
	vol, ok := s.cfg.FSM.VolumeByName(ref.VG, ref.Name)
	if !ok {
		return volumeNotFound(ref.VG, ref.Name)
	}
	// Address by uuid from here on: a concurrent rename cannot redirect
	// the later commands to another volume that took the name.
	ref = metadata.VolumeRef{UUID: vol.UUID}
	type step struct {
		typ     metadata.CommandType
		payload any
	}
	var steps []step
	if q.SizeBytes != nil {
		steps = append(steps, step{metadata.CmdVolumeExtend, metadata.VolumeExtend{Volume: ref, SizeBytes: *q.SizeBytes}})
	}
	if q.Tags != nil {
		steps = append(steps, step{metadata.CmdVolumeSetTags, metadata.VolumeSetTags{Volume: ref, Tags: *q.Tags}})
	}
	if q.ReadOnly != nil {
		steps = append(steps, step{metadata.CmdVolumeSetReadOnly, metadata.VolumeSetReadOnly{Volume: ref, ReadOnly: *q.ReadOnly}})
	}
	if q.ActivationSkip != nil {
		steps = append(steps, step{metadata.CmdVolumeSetSkip, metadata.VolumeSetActivationSkip{Volume: ref, Skip: *q.ActivationSkip}})
	}
	if q.Active != nil {
		steps = append(steps, step{metadata.CmdVolumeSetActive, metadata.VolumeSetActive{Volume: ref, Active: *q.Active}})
	}
	if q.NewName != nil {
		steps = append(steps, step{metadata.CmdVolumeRename, metadata.VolumeRename{Volume: ref, NewName: *q.NewName}})
	}
	for i, st := range steps {
		if _, err := s.apply(subRequest(r.Context(), i), st.typ, st.payload); err != nil {
			return err
		}
	}
	vol, ok = s.cfg.FSM.Volume(vol.UUID)
	if !ok {
		return volumeNotFound(ref.VG, ref.Name)
	}
	writeJSON(w, http.StatusOK, VolumeResponse{Volume: &vol})
	return nil
}

// uuidOr returns the client's uuid, or a new one.
func uuidOr(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	return newUUID()
}

// replayed reports whether a refused create is the repeat of one already
// applied, for clients that send no idempotency key: the client chose the
// uuid (random, so nobody else holds it) and the object under that uuid is
// the one asked for. Whatever the refusal says — exists, or for a snapshot
// an origin since deleted — the object's existence decides. (A repeat after
// the object was deleted again is beyond this: only a key catches it.)
func (s *Server) replayed(err error, clientUUID string, same func(v metadata.View) bool) bool {
	if clientUUID == "" || metadata.CodeOf(err) == "" {
		return false
	}
	ok := false
	s.cfg.FSM.Read(func(v metadata.View) { ok = same(v) })
	return ok
}

// replayVolume answers a repeated volume or snapshot create as the first
// one was answered, when it is one (replayed), and returns err otherwise.
// The operation is found through the volume's pending intent; once that
// has finished the answer carries the volume alone.
func (s *Server) replayVolume(w http.ResponseWriter, r *http.Request, err error, clientUUID, vg, name string) error {
	var vol metadata.Volume
	if !s.replayed(err, clientUUID, func(v metadata.View) bool {
		var ok bool
		vol, ok = v.Volume(clientUUID)
		return ok && vol.VG == vg && vol.Name == name
	}) {
		return err
	}
	for _, in := range s.cfg.FSM.PendingIntents(vol.Pool) {
		if in.Volume == vol.UUID {
			return s.answerOp(w, r, &metadata.Result{UUID: vol.UUID, Intents: []string{in.ID}}, vol.UUID, http.StatusCreated)
		}
	}
	writeJSON(w, http.StatusCreated, VolumeResponse{Volume: &vol})
	return nil
}
