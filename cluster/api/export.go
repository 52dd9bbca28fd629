package api

import (
	"net/http"
	"net/url"

	"github.com/thinraft/thinraft/metadata"
)

// getExport answers where a volume is served over NBD. The answer is only
// given for a volume that is activated (Active) and has a thin device
// (state active): anything else has no export a client could open, and the
// caller is told how to get one. That the agent has caught up with the
// activation is not checked here: it follows the record within a step, and
// an NBD client that comes too early gets the protocol's unknown-export
// error, which it may retry.
func (s *Server) getExport(w http.ResponseWriter, r *http.Request) error {
	vg, name := r.PathValue("vg"), r.PathValue("name")
	return s.view(r, func(v metadata.View) error {
		vol, ok := v.VolumeByName(vg, name)
		if !ok {
			return volumeNotFound(vg, name)
		}
		ref := vg + "/" + name
		if !vol.Active {
			return errorf(string(metadata.CodeConflict), "volume "+ref+" is not active; activate it: thinraft lvchange -ay "+ref)
		}
		if vol.State != metadata.VolumeActive {
			return errorf(string(metadata.CodeConflict), "volume "+ref+" is "+string(vol.State)+", not active; wait for its operation to finish (thinraft lvs "+ref+")")
		}
		pool, ok := v.Pool(vol.Pool)
		if !ok {
			return errorf(CodeInternal, "volume "+ref+" names pool "+vol.Pool+", which is not in the record")
		}
		node, ok := v.Node(pool.Node)
		if !ok || node.NBDAddr == "" {
			return errorf(string(metadata.CodeUnavailable), "node "+pool.Node+" of volume "+ref+" has no NBD address; start it with nbd_bind set (thinraft cluster init does)")
		}
		writeJSON(w, http.StatusOK, ExportInfo{
			Node:    pool.Node,
			Address: node.NBDAddr,
			Export:  ref,
			URI:     (&url.URL{Scheme: "nbd", Host: node.NBDAddr, Path: "/" + ref}).String(),
			Active:  vol.Active,
			Open:    vol.Open,
		})
		return nil
	})
}
