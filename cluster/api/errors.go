package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/thinraft/thinraft/cluster/raftnode"
	"github.com/thinraft/thinraft/metadata"
)

// Codes the API adds to metadata's.
const (
	CodeUnauthorized   = "unauthorized"
	CodeNotLeader      = "not_leader"
	CodeOutcomeUnknown = "outcome_unknown"
	CodeInternal       = "internal"
	CodeTimeout        = "timeout"
)

// StatusOf maps an error code to its HTTP status.
func StatusOf(code string) int {
	switch code {
	case string(metadata.CodeNotFound):
		return http.StatusNotFound
	case string(metadata.CodeExists), string(metadata.CodeConflict):
		return http.StatusConflict
	case string(metadata.CodeInvalid):
		return http.StatusBadRequest
	case string(metadata.CodeNoSpace):
		return http.StatusInsufficientStorage
	case string(metadata.CodeQuota):
		return http.StatusForbidden
	case string(metadata.CodeUnavailable), CodeNotLeader, CodeOutcomeUnknown:
		return http.StatusServiceUnavailable
	case CodeTimeout:
		return http.StatusGatewayTimeout
	case CodeUnauthorized:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// apiError is an error on its way to the wire.
type apiError struct {
	detail ErrorDetail
}

func (e *apiError) Error() string { return e.detail.Code + ": " + e.detail.Message }

func errorf(code, msg string) *apiError {
	return &apiError{ErrorDetail{Code: code, Message: msg}}
}

// toAPIError classifies err. Messages stay on one line and say what to do.
func (s *Server) toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var me *metadata.Error
	if errors.As(err, &me) {
		return errorf(string(me.Code), oneLine(me.Message))
	}
	var nl *raftnode.NotLeaderError
	if errors.As(err, &nl) {
		return s.notLeader(nl.LeaderID)
	}
	switch {
	case errors.Is(err, raftnode.ErrOutcomeUnknown):
		return errorf(CodeOutcomeUnknown, "the command may or may not have been applied (leader change or timeout); read the object to find out before retrying")
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(CodeTimeout, "the request timed out; retry, or read the object to see whether it took effect")
	case errors.Is(err, context.Canceled):
		return errorf(CodeTimeout, "the request was cancelled")
	}
	return errorf(CodeInternal, oneLine(err.Error()))
}

// notLeader is the error a node gives when it cannot reach a leader.
func (s *Server) notLeader(leaderID string) *apiError {
	if leaderID == "" {
		return errorf(CodeNotLeader, "no leader is known (election in progress); retry shortly, or read with ?stale=true")
	}
	e := errorf(CodeNotLeader, "this node is not the leader and could not forward to it; retry, or send the request to the leader")
	e.detail.Leader = &LeaderRef{ID: leaderID, APIAddr: s.apiAddrOf(leaderID)}
	return e
}

func oneLine(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ") }

func (s *Server) writeError(w http.ResponseWriter, err error) {
	ae := s.toAPIError(err)
	writeJSON(w, StatusOf(ae.detail.Code), ErrorBody{Error: ae.detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Error: ErrorDetail{Code: CodeInternal, Message: "encode response: " + oneLine(err.Error())}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
