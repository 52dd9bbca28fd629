package api

import (
	"net/http"

	"github.com/thinraft/thinraft/cluster/raftnode"

	"github.com/thinraft/thinraft/metadata"
)

// Read handlers. On the leader, a read without ?stale=true first runs the
// ReadIndex check; route has already forwarded it otherwise.

func (s *Server) readCheck(r *http.Request) error {
	if stale, _ := staleParam(r); stale {
		return nil
	}
	return s.cfg.Applier.LinearizableRead(r.Context())
}

// view runs fn on a consistent view after the read check.
func (s *Server) view(r *http.Request, fn func(v metadata.View) error) error {
	if err := s.readCheck(r); err != nil {
		return err
	}
	var err error
	s.cfg.FSM.Read(func(v metadata.View) { err = fn(v) })
	return err
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) error {
	id, _ := s.cfg.Applier.Leader()
	info := ClusterInfo{Node: s.cfg.NodeID, LeaderID: id}
	s.cfg.FSM.Read(func(v metadata.View) {
		info.AppliedIndex = v.Index()
		info.Members = v.Nodes()
	})
	if id != "" {
		info.LeaderAPIAddr = s.apiAddrOf(id)
	}
	// Optional: raftnode.Node has it, test doubles need not.
	if sv, ok := s.cfg.Applier.(interface {
		Servers() ([]raftnode.Peer, uint64, error)
	}); ok {
		if peers, _, err := sv.Servers(); err == nil {
			for _, p := range peers {
				info.Raft = append(info.Raft, RaftServer{ID: p.ID, Addr: p.Addr, Voter: p.Voter})
			}
		}
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) error {
	return s.view(r, func(v metadata.View) error {
		writeJSON(w, http.StatusOK, NodeList{Nodes: v.Nodes()})
		return nil
	})
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) error {
	return s.view(r, func(v metadata.View) error {
		n, ok := v.Node(r.PathValue("id"))
		if !ok {
			return errorf("not_found", "node "+r.PathValue("id")+" not found; GET /v1/nodes lists them")
		}
		writeJSON(w, http.StatusOK, struct {
			Node metadata.Node `json:"node"`
		}{n})
		return nil
	})
}

func (s *Server) getOperation(w http.ResponseWriter, r *http.Request) error {
	wait, err := s.waitParam(r)
	if err != nil {
		return err
	}
	if err := s.readCheck(r); err != nil {
		return err
	}
	op, err := s.waitOperation(r.Context(), r.PathValue("id"), wait)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, op)
	return nil
}

func (s *Server) listVGs(w http.ResponseWriter, r *http.Request) error {
	return s.view(r, func(v metadata.View) error {
		writeJSON(w, http.StatusOK, VGList{VGs: v.VGs()})
		return nil
	})
}

func vgNotFound(vg string) error {
	return errorf("not_found", "VG "+vg+" not found; GET /v1/vgs lists them")
}

func (s *Server) getVG(w http.ResponseWriter, r *http.Request) error {
	return s.view(r, func(v metadata.View) error {
		vg, ok := v.VG(r.PathValue("vg"))
		if !ok {
			return vgNotFound(r.PathValue("vg"))
		}
		writeJSON(w, http.StatusOK, VGResponse{VG: vg})
		return nil
	})
}

func (s *Server) listPools(w http.ResponseWriter, r *http.Request) error {
	return s.view(r, func(v metadata.View) error {
		if _, ok := v.VG(r.PathValue("vg")); !ok {
			return vgNotFound(r.PathValue("vg"))
		}
		writeJSON(w, http.StatusOK, PoolList{Pools: v.PoolsOfVG(r.PathValue("vg"))})
		return nil
	})
}

func (s *Server) getPool(w http.ResponseWriter, r *http.Request) error {
	return s.view(r, func(v metadata.View) error {
		p, ok := v.PoolByName(r.PathValue("vg"), r.PathValue("pool"))
		if !ok {
			return errorf("not_found", "pool "+r.PathValue("vg")+"/"+r.PathValue("pool")+" not found")
		}
		writeJSON(w, http.StatusOK, PoolResponse{Pool: p})
		return nil
	})
}

func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	return s.view(r, func(v metadata.View) error {
		if _, ok := v.VG(r.PathValue("vg")); !ok {
			return vgNotFound(r.PathValue("vg"))
		}
		vols, next := v.ListVolumes(r.PathValue("vg"), after, limit)
		if vols == nil {
			vols = []metadata.Volume{}
		}
		writeJSON(w, http.StatusOK, VolumeList{Volumes: vols, Next: next})
		return nil
	})
}

func volumeNotFound(vg, name string) error {
	return errorf("not_found", "volume "+vg+"/"+name+" not found; GET /v1/vgs/"+vg+"/volumes lists them")
}

func (s *Server) getVolume(w http.ResponseWriter, r *http.Request) error {
	return s.view(r, func(v metadata.View) error {
		vol, ok := v.VolumeByName(r.PathValue("vg"), r.PathValue("name"))
		if !ok {
			return volumeNotFound(r.PathValue("vg"), r.PathValue("name"))
		}
		writeJSON(w, http.StatusOK, VolumeResponse{Volume: &vol})
		return nil
	})
}
