package api

import (
	"net/http"
	"strconv"

	"github.com/thinraft/thinraft/metadata"
)

// getBackup answers GET /v1/backup with the whole metadata model in the
// snapshot format (metadata/snapshot.go: gzip JSON lines, the format Raft
// snapshots use), as of a linearizable read unless ?stale=true: every
// acknowledged write is in it. It is what `thinraft vgcfgbackup` saves and
// what restore and repair will read.
func (s *Server) getBackup(w http.ResponseWriter, r *http.Request) error {
	if err := s.readCheck(r); err != nil {
		return err
	}
	fs, err := s.cfg.FSM.Snapshot()
	if err != nil {
		return err
	}
	sn, ok := fs.(*metadata.Snapshot)
	if !ok {
		return errorf(CodeInternal, "the state machine's snapshot is not a metadata snapshot")
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("X-Thinraft-Index", strconv.FormatUint(sn.Index(), 10))
	w.WriteHeader(http.StatusOK)
	// Headers are out: a failure from here on can only cut the stream,
	// which the reader detects (the format ends with a counted end record).
	_, _ = sn.WriteTo(w)
	return nil
}
