package api

import "net/http"

// routes registers the v1 API. docs/api.md describes each route.
func (s *Server) routes() {
	s.handle("GET /v1/cluster", local, s.getCluster)
	s.handle("GET /v1/nodes", read, s.listNodes)
	s.handle("GET /v1/nodes/{id}", read, s.getNode)
	s.handle("POST /v1/nodes/{id}/leave", write, s.leaveNode)
	s.handle("DELETE /v1/nodes/{id}", write, s.deleteNode)
	s.handle("GET /v1/operations/{id}", read, s.getOperation)
	s.handle("GET /v1/backup", read, s.getBackup)

	s.handle("GET /v1/vgs", read, s.listVGs)
	s.handle("POST /v1/vgs", write, s.createVG)
	s.handle("GET /v1/vgs/{vg}", read, s.getVG)
	s.handle("DELETE /v1/vgs/{vg}", write, s.deleteVG)

	s.handle("GET /v1/vgs/{vg}/pools", read, s.listPools)
	s.handle("POST /v1/vgs/{vg}/pools", write, s.createPool)
	s.handle("GET /v1/vgs/{vg}/pools/{pool}", read, s.getPool)
	s.handle("PATCH /v1/vgs/{vg}/pools/{pool}", write, s.growPool)
	s.handle("DELETE /v1/vgs/{vg}/pools/{pool}", write, s.deletePool)
	s.handle("POST /v1/vgs/{vg}/pools/{pool}/unquarantine", write, s.unquarantinePool)

	s.handle("GET /v1/vgs/{vg}/volumes", read, s.listVolumes)
	s.handle("POST /v1/vgs/{vg}/volumes", write, s.createVolume)
	s.handle("GET /v1/vgs/{vg}/volumes/{name}", read, s.getVolume)
	s.handle("PATCH /v1/vgs/{vg}/volumes/{name}", write, s.patchVolume)
	s.handle("DELETE /v1/vgs/{vg}/volumes/{name}", write, s.deleteVolume)
	s.handle("POST /v1/vgs/{vg}/volumes/{name}/snapshots", write, s.createSnapshot)
	s.handle("POST /v1/vgs/{vg}/volumes/{name}/revert", write, s.revertVolume)
	s.handle("GET /v1/vgs/{vg}/volumes/{name}/export", read, s.getExport)

	// Anything else under the API gets a JSON 404 rather than the mux's
	// plain text, after authentication like every route.
	s.handle("/", local, func(w http.ResponseWriter, r *http.Request) error {
		return errorf("not_found", "no such API route "+r.Method+" "+r.URL.Path+"; see docs/api.md")
	})
}
