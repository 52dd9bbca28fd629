package api

import (
	"context"
	"net/http"

	"github.com/thinraft/thinraft/metadata"
)

// Administrative writes on pools and nodes: what lvextend on a pool,
// lvremove of a pool, lvconvert --repair and node removal map to.

// PoolGrowRequest is the body of PATCH /v1/vgs/{vg}/pools/{pool}: the new
// total sizes of the pool's devices (0 leaves one unchanged). Pools only
// grow; the pool's agent grows the backing devices and the kernel pool.
type PoolGrowRequest struct {
	DataBytes uint64 `json:"data_bytes,omitempty"`
	MetaBytes uint64 `json:"meta_bytes,omitempty"`
}

func (q *PoolGrowRequest) check() error {
	if q.DataBytes == 0 && q.MetaBytes == 0 {
		return errorf("invalid", "give data_bytes and/or meta_bytes, the new total sizes")
	}
	return nil
}

// NodeResponse is the body answering a node route.
type NodeResponse struct {
	Node metadata.Node `json:"node"`
}

// poolRef resolves the path's pool to its uuid (a linearizable lookup, so
// an acknowledged rename or removal is seen).
func (s *Server) poolRef(r *http.Request) (string, error) {
	if err := s.cfg.Applier.LinearizableRead(r.Context()); err != nil {
		return "", err
	}
	var p metadata.Pool
	var ok bool
	s.cfg.FSM.Read(func(v metadata.View) { p, ok = v.PoolByName(r.PathValue("vg"), r.PathValue("pool")) })
	if !ok {
		return "", errorf("not_found", "pool "+r.PathValue("vg")+"/"+r.PathValue("pool")+" not found")
	}
	return p.UUID, nil
}

func (s *Server) answerPool(w http.ResponseWriter, uuid string) error {
	var p metadata.Pool
	var ok bool
	s.cfg.FSM.Read(func(v metadata.View) { p, ok = v.Pool(uuid) })
	if !ok {
		return errorf("not_found", "pool "+uuid+" is gone")
	}
	writeJSON(w, http.StatusOK, PoolResponse{Pool: p})
	return nil
}

func (s *Server) growPool(w http.ResponseWriter, r *http.Request) error {
	var q PoolGrowRequest
	if err := readJSON(r, &q); err != nil {
		return err
	}
	uuid, err := s.poolRef(r)
	if err != nil {
		return err
	}
	if _, err := s.apply(r.Context(), metadata.CmdPoolGrow, metadata.PoolGrow{Pool: uuid, DataBytes: q.DataBytes, MetaBytes: q.MetaBytes}); err != nil {
		return err
	}
	return s.answerPool(w, uuid)
}

func (s *Server) deletePool(w http.ResponseWriter, r *http.Request) error {
	uuid, err := s.poolRef(r)
	if err != nil {
		return err
	}
	if _, err := s.apply(r.Context(), metadata.CmdPoolRemove, metadata.PoolRemove{Pool: uuid}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) unquarantinePool(w http.ResponseWriter, r *http.Request) error {
	uuid, err := s.poolRef(r)
	if err != nil {
		return err
	}
	if _, err := s.apply(r.Context(), metadata.CmdPoolUnquarantine, metadata.PoolUnquarantine{Pool: uuid}); err != nil {
		return err
	}
	return s.answerPool(w, uuid)
}

// leaveNode records that a node left (it must own no pools) and takes it
// out of the Raft configuration. The node's process is the operator's to
// stop; a node removed from the configuration no longer votes or receives
// entries.
func (s *Server) leaveNode(w http.ResponseWriter, r *http.Request) error {
	return s.removeNode(w, r, false)
}

// deleteNode removes a dead node: like leave, but refused while the node is
// up (use leave for a live one) unless ?force=true.
func (s *Server) deleteNode(w http.ResponseWriter, r *http.Request) error {
	return s.removeNode(w, r, true)
}

func (s *Server) removeNode(w http.ResponseWriter, r *http.Request, dead bool) error {
	id := r.PathValue("id")
	if err := s.cfg.Applier.LinearizableRead(r.Context()); err != nil {
		return err
	}
	node := func() (n metadata.Node, ok bool) {
		s.cfg.FSM.Read(func(v metadata.View) { n, ok = v.Node(id) })
		return n, ok
	}
	n, ok := node()
	if !ok {
		return errorf("not_found", "node "+id+" not found; GET /v1/nodes lists them")
	}
	if dead && n.State == metadata.NodeUp && r.URL.Query().Get("force") != "true" {
		return errorf("conflict", "node "+id+" is up; use POST /v1/nodes/"+id+"/leave (thinraft node leave "+id+") for a live node, or ?force=true")
	}
	if _, err := s.apply(r.Context(), metadata.CmdNodeLeave, metadata.NodeLeave{ID: id}); err != nil {
		return err
	}
	if err := s.cfg.Applier.Remove(context.WithoutCancel(r.Context()), id); err != nil {
		return err
	}
	n, _ = node()
	writeJSON(w, http.StatusOK, NodeResponse{Node: n})
	return nil
}
