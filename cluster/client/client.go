package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
)

// DefaultRetryTimeout is how long a call keeps retrying through an
// election when its context has no earlier deadline.
const DefaultRetryTimeout = 15 * time.Second

// Config describes how to reach and authenticate to a cluster.
type Config struct {
	// Endpoints are API addresses of any nodes, "host:port" or
	// "https://host:port".
	Endpoints []string
	// Token is a bearer token; empty to authenticate by Certificate only.
	Token string
	// CA verifies the nodes' certificates (the cluster CA).
	CA *x509.CertPool
	// Certificate is an optional client certificate of the cluster CA.
	Certificate *tls.Certificate
	// RetryTimeout bounds retries through elections (default
	// DefaultRetryTimeout).
	RetryTimeout time.Duration
	// RequestTimeout bounds each HTTP attempt (default 30 s; a ?wait
	// extends it).
	RequestTimeout time.Duration
}

// Client calls the API. It is safe for concurrent use.
type Client struct {
	cfg       Config
	endpoints []string
	hc        *http.Client

	mu sync.Mutex
	// cur is the index of the endpoint that last answered.
	cur int
	// failed holds when each endpoint last failed below the API (not
	// reached, connection lost): a leader hint naming it is ignored for
	// hintQuiet after that, so a leader this client cannot reach does not
	// cost every call a failed attempt before the forwarding path.
	failed map[string]time.Time
	// after is the retry backoff's timer (time.After; tests count it).
	after func(time.Duration) <-chan time.Time
}

// hintQuiet is how long a leader hint to an endpoint that just failed is
// ignored.
const hintQuiet = 5 * time.Second

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("client: no endpoints")
	}
	if cfg.CA == nil {
		return nil, errors.New("client: no CA: the cluster CA must verify the nodes")
	}
	if cfg.RetryTimeout <= 0 {
		cfg.RetryTimeout = DefaultRetryTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	eps := make([]string, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		eps[i] = strings.TrimSuffix(strings.TrimPrefix(e, "https://"), "/")
	}
	tc := &tls.Config{RootCAs: cfg.CA, MinVersion: tls.VersionTLS12}
	if cfg.Certificate != nil {
		tc.Certificates = []tls.Certificate{*cfg.Certificate}
	}
	return &Client{cfg: cfg, endpoints: eps, failed: map[string]time.Time{}, after: time.After, hc: &http.Client{
		Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		// The API never redirects; a redirect would drop the token's
		// guarantees on another host, so refuse to follow one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Option adjusts a call's query: Stale, Wait.
type Option func(url.Values)

// Stale reads the answering node's replica without the leader check.
func Stale() Option { return func(q url.Values) { q.Set("stale", "true") } }

// Wait asks the leader to wait up to d for the operation a write starts.
func Wait(d time.Duration) Option { return func(q url.Values) { q.Set("wait", d.String()) } }

func query(opts []Option) url.Values {
	q := url.Values{}
	for _, o := range opts {
		o(q)
	}
	return q
}

// endpoint returns the i-th endpoint to try, starting at the current one.
func (c *Client) endpoint(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endpoints[(c.cur+i)%len(c.endpoints)]
}

// prefer makes ep the next endpoint tried, adding it to the list if it is
// new (a leader the configured endpoints named).
func (c *Client) prefer(ep string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.endpoints {
		if e == ep {
			c.cur = i
			return
		}
	}
	c.endpoints = append(c.endpoints, ep)
	c.cur = len(c.endpoints) - 1
}

// follow makes the leader an answer named (api.HeaderLeader) the next
// endpoint tried, so later calls skip the forward hop. Only configured
// endpoints are followed: those are the addresses the user vouched for as
// reachable from here; an advertised address may not be (another network,
// a NAT), and forwarding serves the call either way.
func (c *Client) follow(leader string) {
	if leader == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.failed[leader]; ok {
		if time.Since(t) < hintQuiet {
			return
		}
		delete(c.failed, leader)
	}
	for i, e := range c.endpoints[:len(c.cfg.Endpoints)] {
		if e == leader {
			c.cur = i
			return
		}
	}
}

// fail notes that ep failed below the API.
func (c *Client) fail(ep string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed[ep] = time.Now()
}

func (c *Client) settle(ep string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.endpoints {
		if e == ep {
			c.cur = i
			return
		}
	}
}

// do sends one API call, retrying as doc.go describes, and decodes a
// successful answer into out (if not nil). It returns the HTTP status.
//
// Every call may be sent again after its fate became unknown: reads by
// nature, writes because each carries an idempotency key, fresh per call
// and the same on every attempt, by which the cluster recognises a repeat
// of a write that already succeeded and answers it with the first result.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) (int, error) {
	var key string
	if method != http.MethodGet {
		key = rand.Text()
	}
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("client: encode %s %s: %w", method, path, err)
		}
		body = b
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RetryTimeout)
	defer cancel()
	backoff := 50 * time.Millisecond
	var last error
	// lastAPI is the last error a server answered, the most useful one to
	// report when the retries run out.
	var lastAPI *Error
	// unknown: an earlier attempt of this write may have been applied (its
	// answer was lost, or it was answered outcome_unknown). Giving up must
	// then say outcome_unknown even if the last attempt was refused as
	// not_leader, which by itself would promise nothing was applied.
	unknown := false
	for attempt := 0; ; attempt++ {
		ep := c.endpoint(attempt)
		status, leader, err := c.once(rctx, ep, method, path, q, key, body, out)
		if err == nil {
			c.settle(ep)
			c.follow(leader)
			return status, nil
		}
		last = err
		var ae *Error
		if !errors.As(err, &ae) && ctx.Err() == nil {
			c.fail(ep)
		}
		if key != "" && (errors.As(err, &ae) && ae.Code == api.CodeOutcomeUnknown || !errors.As(err, &ae) && !isDialError(err)) {
			unknown = true
		}
		switch {
		case errors.As(err, &ae) && (retryable(ae) || ae.Code == api.CodeOutcomeUnknown):
			// Every node forwards; the answering one is as good as any. A
			// node that could not reach the leader names it: try it next.
			lastAPI = ae
			if ae.Leader != nil && ae.Leader.APIAddr != "" {
				c.prefer(ae.Leader.APIAddr)
				attempt = -1
			}
		case isDialError(err), !errors.As(err, &ae) && ctx.Err() == nil:
			// Not reached (or a read lost): try the next endpoint at once
			// unless we have been round them all.
			if (attempt+1)%len(c.endpoints) != 0 {
				continue
			}
		case errors.As(err, &ae):
			return status, err
		default:
			if ctx.Err() != nil {
				return 0, fmt.Errorf("client: %s %s: %w", method, path, ctx.Err())
			}
			return 0, &Error{Code: api.CodeOutcomeUnknown, Message: fmt.Sprintf("%s %s on %s: %v; read to find out whether it took effect", method, path, ep, err)}
		}
		select {
		case <-rctx.Done():
			if ctx.Err() != nil {
				return 0, fmt.Errorf("client: %s %s: %w (last error: %v)", method, path, ctx.Err(), last)
			}
			if unknown {
				return 0, fmt.Errorf("client: %s %s: gave up after %v: %w (last error: %v)", method, path, c.cfg.RetryTimeout,
					&Error{Code: api.CodeOutcomeUnknown, Message: "an attempt may have been applied; read to find out"}, last)
			}
			if lastAPI != nil {
				return 0, fmt.Errorf("client: %s %s: gave up after %v: %w", method, path, c.cfg.RetryTimeout, lastAPI)
			}
			return 0, fmt.Errorf("client: %s %s: gave up after %v: %w (last error: %v)", method, path, c.cfg.RetryTimeout,
				&Error{Code: api.CodeTimeout, Message: "no node answered"}, last)
		case <-c.after(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// once is one HTTP attempt against one endpoint. It returns the answer's
// status, the leader the answering node named, and the error.
func (c *Client) once(ctx context.Context, ep, method, path string, q url.Values, key string, body []byte, out any) (int, string, error) {
	timeout := c.cfg.RequestTimeout
	if w := q.Get("wait"); w != "" {
		if d, err := time.ParseDuration(w); err == nil {
			timeout += d
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := c.newRequest(ctx, ep, method, path, q, body)
	if err != nil {
		return 0, "", err
	}
	if key != "" {
		req.Header.Set(api.HeaderIdempotencyKey, key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	leader := resp.Header.Get(api.HeaderLeader)
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, leader, c.apiError(resp.StatusCode, method, path, data)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, leader, &Error{Status: resp.StatusCode, Code: api.CodeInternal, Message: fmt.Sprintf("%s %s: decode answer: %v", method, path, err)}
		}
	}
	return resp.StatusCode, leader, nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// isDialError: the connection was never made, so nothing was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// apiError decodes an API error answer.
func (c *Client) apiError(status int, method, path string, data []byte) *Error {
	var eb api.ErrorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
		return &Error{Status: status, Code: api.CodeInternal, Message: fmt.Sprintf("%s %s: non-API answer %q", method, path, truncate(data))}
	}
	return &Error{Status: status, Code: eb.Error.Code, Message: eb.Error.Message, Leader: eb.Error.Leader}
}

// newRequest builds one attempt's request to endpoint ep: the URL, a JSON
// body if any, and the token.
func (c *Client) newRequest(ctx context.Context, ep, method, path string, q url.Values, body []byte) (*http.Request, error) {
	u := url.URL{Scheme: "https", Host: ep, Path: path, RawQuery: q.Encode()}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	return req, nil
}
