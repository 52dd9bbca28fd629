package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/thinraft/thinraft/cluster/agent"
	"github.com/thinraft/thinraft/cluster/pki"
	"github.com/thinraft/thinraft/cluster/raftnode"
	"github.com/thinraft/thinraft/metadata"
)

// Internal routes, served beside the public API on the same listener.
// Only node certificates of the cluster CA may call them: they carry raw
// metadata commands (an agent's completions) and membership changes that
// no client may make.
const (
	routePropose = "/v1/internal/propose"
	routeJoin    = "/v1/internal/join"
)

// joinRequest is the body of the join route.
type joinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	Voter    bool   `json:"voter"`
}

// internalError is the body of an internal route's failure; LeaderAPI
// names the leader's API address when this node is not it.
type internalError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	LeaderAPI string `json:"leader_api,omitempty"`
}

// internal serves the internal routes of one node.
type internal struct {
	rn      *raftnode.Node
	fsm     *metadata.FSM
	roots   *x509.CertPool
	apiAddr func(id string) string
	timeout time.Duration
	// verdicts: a node's certificate is verified once per connection.
	verdicts pki.ConnVerdicts
	// order keeps each pool's completions in transaction order.
	order *agent.CompletionOrder
}

func (h *internal) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+routePropose, h.propose)
	mux.HandleFunc("POST "+routeJoin, h.join)
}

// nodeOf verifies the caller's certificate: a node certificate chaining
// to the cluster CA, else an error.
func (h *internal) nodeOf(r *http.Request) (string, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", errors.New("internal routes need a node certificate of the cluster CA")
	}
	return h.verdicts.Get(r.TLS, func() (string, error) { return h.verifyNode(r.TLS.PeerCertificates) })
}

// verifyNode checks a peer's chain: a node certificate of the cluster CA.
func (h *internal) verifyNode(chain []*x509.Certificate) (string, error) {
	role, name, err := pki.IdentityOf(chain[0])
	if err != nil {
		return "", err
	}
	if role != pki.RoleNode {
		return "", fmt.Errorf("certificate of %s %s: internal routes are for nodes only", role, name)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: h.roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", err
	}
	return name, nil
}

func (h *internal) fail(w http.ResponseWriter, status int, code, msg string) {
	e := internalError{Code: code, Message: msg}
	if status == http.StatusServiceUnavailable {
		if id, _ := h.rn.Leader(); id != "" {
			e.LeaderAPI = h.apiAddr(id)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// body authenticates the caller, reads the body and checks this node
// leads; ok false means the answer was written.
func (h *internal) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if _, err := h.nodeOf(r); err != nil {
		h.fail(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		h.fail(w, http.StatusBadRequest, "invalid", "body unreadable or over 1 MiB")
		return nil, false
	}
	if !h.rn.IsLeader() {
		h.fail(w, http.StatusServiceUnavailable, "not_leader", "this node is not the leader")
		return nil, false
	}
	return b, true
}

// propose applies a raw metadata command on the leader and answers the
// FSM's result.
func (h *internal) propose(w http.ResponseWriter, r *http.Request) {
	b, ok := h.body(w, r)
	if !ok {
		return
	}
	var cmd metadata.Command
	if err := json.Unmarshal(b, &cmd); err != nil {
		h.fail(w, http.StatusBadRequest, "invalid", "not a metadata command: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	res, err := h.order.Apply(ctx, cmd, submitter(ctx, h.rn, b))
	if err != nil {
		h.fail(w, http.StatusServiceUnavailable, "not_leader", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// join adds a node to Raft (probing its certificate first) and records it
// in the model with its addresses.
func (h *internal) join(w http.ResponseWriter, r *http.Request) {
	b, ok := h.body(w, r)
	if !ok {
		return
	}
	caller, _ := h.nodeOf(r)
	var req joinRequest
	if err := json.Unmarshal(b, &req); err != nil {
		h.fail(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if req.ID != caller {
		// A node may only add itself: its certificate is its identity.
		h.fail(w, http.StatusForbidden, "forbidden", fmt.Sprintf("node %s may not join as %s", caller, req.ID))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	if err := h.rn.Join(ctx, raftnode.Peer{ID: req.ID, Addr: req.RaftAddr, Voter: req.Voter}); err != nil {
		status := http.StatusBadGateway
		var nl *raftnode.NotLeaderError
		if errors.As(err, &nl) {
			status = http.StatusServiceUnavailable
		}
		h.fail(w, status, "join_failed", err.Error())
		return
	}
	cmd, err := metadata.Encode(metadata.CmdNodeJoin, time.Now(), metadata.NodeJoin{ID: req.ID, Name: req.ID,
		Addr: req.RaftAddr, APIAddr: req.APIAddr, Voter: req.Voter})
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	res, err := applyLocal(ctx, h.rn, cmd)
	if err != nil {
		h.fail(w, http.StatusServiceUnavailable, "not_leader", err.Error())
		return
	}
	if err := res.AsError(); err != nil {
		h.fail(w, http.StatusConflict, string(metadata.CodeOf(err)), err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// submitter queues data in this node's Raft log when called (in the order
// of calls) and returns the wait for its result: what agent.CompletionOrder
// runs once a completion's turn has come.
func submitter(ctx context.Context, rn *raftnode.Node, data []byte) func() agent.Wait {
	return func() agent.Wait {
		wait := rn.Submit(ctx, data)
		return func(ctx context.Context) (*metadata.Result, error) {
			r, err := wait(ctx)
			if err != nil {
				return nil, err
			}
			return resultOf(r)
		}
	}
}

// resultOf is the metadata result in a raft answer.
func resultOf(r raftnode.Result) (*metadata.Result, error) {
	res, ok := r.Response.(*metadata.Result)
	if !ok {
		return nil, fmt.Errorf("FSM answered %T, not a metadata result", r.Response)
	}
	return res, nil
}

// applyLocal applies cmd through this node's Raft and returns the FSM's
// result.
func applyLocal(ctx context.Context, rn *raftnode.Node, cmd []byte) (*metadata.Result, error) {
	r, err := rn.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return resultOf(r)
}

// peerClient is the HTTPS client a node uses on other nodes' internal
// routes: it presents the node certificate and trusts the cluster CA.
func peerClient(ident *pki.Identity, dialTLS func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{
				RootCAs:      ident.Roots,
				Certificates: []tls.Certificate{ident.Certificate},
				MinVersion:   tls.VersionTLS13,
			},
			// A dead leader must fail fast so the caller moves on.
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			DialTLSContext:      dialTLS,
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

// errRetry marks an answer worth retrying elsewhere or later; leader is
// the API address the answering node named, if any.
type errRetry struct {
	leader string
	err    error
}

func (e *errRetry) Error() string { return e.err.Error() }
func (e *errRetry) Unwrap() error { return e.err }

// postInternal posts body to route on the node at addr and decodes a 200
// answer into out.
func postInternal(ctx context.Context, hc *http.Client, addr, route string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+route, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return &errRetry{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &errRetry{err: err}
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s%s: answer: %w", addr, route, err)
		}
		return nil
	}
	var e internalError
	_ = json.Unmarshal(b, &e)
	err = fmt.Errorf("%s%s: %d %s: %s", addr, route, resp.StatusCode, e.Code, e.Message)
	if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusBadGateway {
		return &errRetry{leader: e.LeaderAPI, err: err}
	}
	return err
}
