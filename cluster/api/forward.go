package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/thinraft/thinraft/cluster/raftnode"
)

// hdrForwarded marks a request a follower forwarded, with the follower's
// id. A request forwarded once is never forwarded again: a node that is
// not the leader either answers 503 not_leader and the follower that
// forwarded it retries, so no request circles between nodes.
const hdrForwarded = "X-Thinraft-Forwarded-By"

// HeaderLeader is on every API answer: the API address of the node the
// answering node believes leads ("" when it knows none). A client that
// sends its next calls there saves the forward hop (a second HTTPS request
// on two nodes); one that ignores it is still served through forwarding.
const HeaderLeader = "X-Thinraft-Leader"

// kind says where a route may be served.
type kind int

const (
	// local routes answer from this node as it is (e.g. /v1/cluster).
	local kind = iota
	// read routes need the leader unless ?stale=true.
	read
	// write routes always need the leader.
	write
)

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers a route behind authentication and leader routing.
func (s *Server) handle(pattern string, k kind, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		// Named before anything can fail, so error answers carry it too.
		w.Header().Set(HeaderLeader, s.leaderAPIAddr())
		if _, err := s.authenticate(r); err != nil {
			s.writeError(w, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			s.writeError(w, errorf("invalid", "request body unreadable or larger than 1 MiB"))
			return
		}
		stale, err := staleParam(r)
		if err != nil {
			s.writeError(w, err)
			return
		}
		if r, err = withRequestKey(r); err != nil {
			s.writeError(w, err)
			return
		}
		needLeader := k == write || (k == read && !stale)
		s.route(w, r, body, needLeader, h)
	})
}

// leaderAPIAddr is the API address of the leader this node knows of.
func (s *Server) leaderAPIAddr() string {
	id, _ := s.cfg.Applier.Leader()
	if id == "" {
		return ""
	}
	return s.apiAddrOf(id)
}

func staleParam(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("stale")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errorf("invalid", "stale must be true or false")
	}
	return b, nil
}

// route serves the request here when this node may, and otherwise
// forwards it to the leader, retrying while no leader is reachable for up
// to ForwardTimeout.
func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte, needLeader bool, h handlerFunc) {
	// ForwardTimeout bounds the search for a leader, not the forwarded
	// request itself, which may legitimately wait (?wait=).
	deadline := time.Now().Add(s.cfg.ForwardTimeout)
	backoff := 20 * time.Millisecond
	// sent: a keyed write went to a leader whose answer was lost, so it
	// may have been applied; giving up must then say outcome_unknown, not
	// not_leader (which promises nothing was applied).
	sent := false
	giveUp := func() {
		if sent {
			s.writeError(w, errorf(CodeOutcomeUnknown, "a leader failed while handling the request and no leader answered its repeat; repeat it with the same Idempotency-Key, or read to find out whether it took effect"))
			return
		}
		id, _ := s.cfg.Applier.Leader()
		s.writeError(w, s.notLeader(id))
	}
	for {
		if !needLeader || s.cfg.Applier.IsLeader() {
			r.Body = io.NopCloser(bytes.NewReader(body))
			err := h(w, r)
			if err == nil {
				return
			}
			// A NotLeaderError means the command was not enqueued (raft
			// refuses before its log), so forwarding cannot apply it twice.
			var nl *raftnode.NotLeaderError
			if !needLeader || !errors.As(err, &nl) {
				s.writeError(w, err)
				return
			}
		}
		if r.Header.Get(hdrForwarded) != "" {
			id, _ := s.cfg.Applier.Leader()
			s.writeError(w, s.notLeader(id))
			return
		}
		done, lost := s.forwardOnce(r.Context(), w, r, body)
		if done {
			return
		}
		sent = sent || lost
		if time.Now().After(deadline) {
			giveUp()
			return
		}
		select {
		case <-r.Context().Done():
			return // the client is gone
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 300*time.Millisecond)
	}
}

// forwardOnce sends the request to the leader this node knows of and
// relays the answer. It returns done=false when it wrote nothing and the
// caller should retry: no leader known, the leader unreachable before the
// request went out, the target answering not_leader (it lost office), or
// — for a read or a keyed write, which may be repeated — the answer lost;
// lost=true then says a write may have been applied.
func (s *Server) forwardOnce(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte) (done, lost bool) {
	id, _ := s.cfg.Applier.Leader()
	if id == "" || id == s.cfg.NodeID {
		return false, false
	}
	addr := s.apiAddrOf(id)
	if addr == "" {
		return false, false
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, "https://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		s.writeError(w, err)
		return true, false
	}
	for _, h := range []string{"Content-Type", HeaderIdempotencyKey} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	// A keyed write may be sent again: the leader recognises the repeat.
	retryable := r.Method == http.MethodGet || r.Header.Get(HeaderIdempotencyKey) != ""
	// The leader authenticates this node by its certificate; the caller's
	// token stays here (the nodes may not share a token list).
	req.Header.Set(hdrForwarded, s.cfg.NodeID)
	write := r.Method != http.MethodGet
	resp, err := s.fwd.Do(req)
	if err != nil {
		if isDialError(err) {
			return false, false
		}
		if retryable {
			return false, write
		}
		s.writeError(w, errorf(CodeOutcomeUnknown, "the leader "+id+" failed while handling the request; read the object to find out whether it took effect"))
		return true, false
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		if retryable {
			return false, write
		}
		s.writeError(w, errorf(CodeOutcomeUnknown, "the leader "+id+" failed while answering; read the object to find out whether it took effect"))
		return true, false
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		var eb ErrorBody
		if json.Unmarshal(out, &eb) == nil && eb.Error.Code == CodeNotLeader {
			return false, false
		}
	}
	for _, h := range []string{"Content-Type", "Location"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("X-Thinraft-Served-By", id)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
	return true, false
}

// isDialError: the connection was never made, so the request was not sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
