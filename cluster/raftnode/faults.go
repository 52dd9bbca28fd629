package raftnode

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ErrPartitioned is returned by a dial the fault injector blocks.
var ErrPartitioned = errors.New("raftnode: link cut by fault injection")

// Faults is a set of cut links between node ids, shared by the FaultLayers
// of the nodes it governs (all nodes of an in-process test, or the one node
// of an agent process driven by a test). Cutting a link closes the open
// connections between the two nodes and refuses new ones in both
// directions until the link is healed: to Raft this is a partition, seen as
// failed dials and broken streams, exactly as after a lost route.
//
// A Raft RPC and its reply share one TCP connection, so a one-way cut would
// kill the connection just the same; links are therefore symmetric.
type Faults struct {
	mu    sync.Mutex
	cut   map[[2]string]bool
	conns map[*faultConn]struct{}
}

// NewFaults returns an injector with every link up.
func NewFaults() *Faults {
	return &Faults{cut: map[[2]string]bool{}, conns: map[*faultConn]struct{}{}}
}

func linkKey(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Cut severs the link between a and b.
func (f *Faults) Cut(a, b string) {
	f.mu.Lock()
	f.cut[linkKey(a, b)] = true
	victims := f.matching()
	f.mu.Unlock()
	closeAll(victims)
}

// Isolate cuts id from every node in others.
func (f *Faults) Isolate(id string, others ...string) {
	f.mu.Lock()
	for _, o := range others {
		if o != id {
			f.cut[linkKey(id, o)] = true
		}
	}
	victims := f.matching()
	f.mu.Unlock()
	closeAll(victims)
}

// Partition cuts every link between nodes of different groups; links within
// a group are left as they are.
func (f *Faults) Partition(groups ...[]string) {
	f.mu.Lock()
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					f.cut[linkKey(a, b)] = true
				}
			}
		}
	}
	victims := f.matching()
	f.mu.Unlock()
	closeAll(victims)
}

// Heal restores every link.
func (f *Faults) Heal() {
	f.mu.Lock()
	f.cut = map[[2]string]bool{}
	f.mu.Unlock()
}

// HealLink restores the link between a and b.
func (f *Faults) HealLink(a, b string) {
	f.mu.Lock()
	delete(f.cut, linkKey(a, b))
	f.mu.Unlock()
}

// Cuts lists the cut links as "a-b", sorted, for logs.
func (f *Faults) Cuts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.cut))
	for k := range f.cut {
		out = append(out, k[0]+"-"+k[1])
	}
	sort.Strings(out)
	return out
}

// IsCut reports whether the link between a and b is cut.
func (f *Faults) IsCut(a, b string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cut[linkKey(a, b)]
}

// matching removes and returns the tracked connections on cut links.
// Called with f.mu held.
func (f *Faults) matching() []*faultConn {
	var v []*faultConn
	for c := range f.conns {
		if f.cut[linkKey(c.local, c.peer)] {
			v = append(v, c)
			delete(f.conns, c)
		}
	}
	return v
}

func closeAll(cs []*faultConn) {
	for _, c := range cs {
		c.Conn.Close()
	}
}

// admit registers c unless its link is cut.
func (f *Faults) admit(c *faultConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut[linkKey(c.local, c.peer)] {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Faults) forget(c *faultConn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// FaultLayer wraps a StreamLayer whose connections identify their peer (the
// TLSLayer: the peer's node id is in its certificate) and applies a Faults
// set to them. Both ends check, so a cut holds even when only one side's
// process has the rule.
type FaultLayer struct {
	raft.StreamLayer
	local  string
	faults *Faults
}

// NewFaultLayer wraps inner for node local.
func NewFaultLayer(inner raft.StreamLayer, local string, faults *Faults) *FaultLayer {
	return &FaultLayer{StreamLayer: inner, local: local, faults: faults}
}

// Dial connects through the inner layer, then drops the connection if the
// link to the node that answered is cut.
func (l *FaultLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := l.StreamLayer.Dial(address, timeout)
	if err != nil {
		return nil, err
	}
	peer, err := PeerNodeID(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	fc := &faultConn{Conn: c, local: l.local, peer: peer, faults: l.faults}
	if !l.faults.admit(fc) {
		c.Close()
		return nil, fmt.Errorf("%w: %s-%s", ErrPartitioned, l.local, peer)
	}
	return fc, nil
}

// Accept returns inbound connections; the peer check happens on first use,
// after the handshake names the peer, in the connection's goroutine.
func (l *FaultLayer) Accept() (net.Conn, error) {
	c, err := l.StreamLayer.Accept()
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: c, local: l.local, faults: l.faults, inbound: true}, nil
}

// faultConn is a tracked connection between local and peer.
type faultConn struct {
	net.Conn
	local, peer string
	faults      *Faults
	inbound     bool
	once        sync.Once
	err         error
}

func (c *faultConn) check() error {
	if !c.inbound {
		return nil
	}
	c.once.Do(func() {
		peer, err := PeerNodeID(c.Conn)
		if err != nil {
			c.err = err
			return
		}
		c.peer = peer
		if !c.faults.admit(c) {
			c.err = fmt.Errorf("%w: %s-%s", ErrPartitioned, c.local, peer)
			c.Conn.Close()
		}
	})
	return c.err
}

func (c *faultConn) Read(p []byte) (int, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *faultConn) Write(p []byte) (int, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *faultConn) Close() error {
	c.faults.forget(c)
	return c.Conn.Close()
}
