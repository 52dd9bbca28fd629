package pki

import (
	"crypto/tls"
	"runtime"
	"sync"
	"weak"
)

// ConnVerdicts remembers the outcome of verifying a connection's client
// certificate, so a peer sending many requests over one kept-alive
// connection (a follower forwarding API calls, an agent proposing its
// completions) is verified once, not per request (x509 verification was 4-6%
// of all CPU in the cluster bench's profiles). The zero value is ready. The peer's certificates
// cannot change within a TLS connection, so the verdict is the handshake's.
//
// net/http hands every request of a connection the same
// *tls.ConnectionState, which keys the map through a weak pointer; a
// cleanup drops the entry once the connection's state is collected, so
// closed connections leave nothing behind.
type ConnVerdicts struct {
	mu sync.Mutex
	m  map[weak.Pointer[tls.ConnectionState]]verdict
}

type verdict struct {
	name string
	err  error
}

// Get returns cs's verdict, running verify the first time cs is seen.
func (c *ConnVerdicts) Get(cs *tls.ConnectionState, verify func() (string, error)) (string, error) {
	k := weak.Make(cs)
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return v.name, v.err
	}
	name, err := verify()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		if c.m == nil {
			c.m = map[weak.Pointer[tls.ConnectionState]]verdict{}
		}
		c.m[k] = verdict{name: name, err: err}
		runtime.AddCleanup(cs, c.drop, k)
	}
	return name, err
}

func (c *ConnVerdicts) drop(k weak.Pointer[tls.ConnectionState]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// Len is how many connections have a verdict (tests).
func (c *ConnVerdicts) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
