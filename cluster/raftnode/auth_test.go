package raftnode

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/thinraft/thinraft/cluster/pki"
)

// rogueLayer is an attacker's stream layer: it speaks TLS with whatever
// certificate it has (or none, or no TLS at all) and trusts any server.
type rogueLayer struct {
	net.Listener
	cert  *tls.Certificate // nil: no client certificate
	plain bool             // no TLS at all
}

func (r *rogueLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil || r.plain {
		return c, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	if r.cert != nil {
		cfg.Certificates = []tls.Certificate{*r.cert}
	}
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// newRogue listens as the attacker would: with its own certificate (a
// throwaway self-signed one when it has none to offer), or plain TCP.
func newRogue(t *testing.T, b *pki.Bundle, plain bool) *rogueLayer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rogueLayer{Listener: ln, plain: plain}
	if b != nil {
		r.cert = &tls.Certificate{Certificate: [][]byte{b.Cert.Raw}, PrivateKey: b.Key}
	}
	if !plain {
		srv := b
		if srv == nil {
			if srv, err = pki.SelfSignedNode("anon"); err != nil {
				t.Fatal(err)
			}
		}
		r.Listener = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srv.Cert.Raw}, PrivateKey: srv.Key}}})
	}
	return r
}

type clusterView struct {
	term, lastIndex, confIndex uint64
	leader                     string
	servers                    []Peer
	cmds                       []string
}

func viewOf(c *testCluster, id string) clusterView {
	n := c.node(id)
	servers, idx, _ := n.Servers()
	l, _ := n.Leader()
	return clusterView{term: n.Raft().CurrentTerm(), lastIndex: n.Raft().LastIndex(), confIndex: idx,
		leader: l, servers: servers, cmds: c.fsm(id).list()}
}

func sameView(a, b clusterView) bool {
	return a.term == b.term && a.lastIndex == b.lastIndex && a.confIndex == b.confIndex &&
		a.leader == b.leader && slices.Equal(a.servers, b.servers) && slices.Equal(a.cmds, b.cmds)
}

// TestAuthRefused (Raft half): a peer without a valid node certificate of
// the cluster CA can neither join nor send AppendEntries or RequestVote;
// the refusal happens at the TLS layer and the cluster state is unchanged.
func TestAuthRefused(t *testing.T) {
	c := newTestCluster(t, nil)
	ids := c.bootstrap(3)
	for _, cmd := range seq("a", 0, 10) {
		c.apply(cmd)
	}
	c.converge(seq("a", 0, 10), ids...)
	leader := c.leader()
	var follower *Node
	for _, id := range ids {
		if id != leader.ID() {
			follower = c.node(id)
			break
		}
	}

	foreign, _ := pki.NewCA("foreign", time.Hour)
	foreignNode, _ := foreign.IssueNode("n2", nil, time.Hour)
	selfSigned, _ := pki.SelfSignedNode("n2")
	clientCert, _ := c.ca.IssueClient("n2", time.Hour)

	attackers := []struct {
		name   string
		bundle *pki.Bundle
		plain  bool
	}{
		{"plain-tcp", nil, true},
		{"no-cert", nil, false},
		{"self-signed", selfSigned, false},
		{"foreign-ca", foreignNode, false},
		{"client-cert-of-cluster-ca", clientCert, false},
	}

	before := map[string]clusterView{}
	for _, id := range ids {
		before[id] = viewOf(c, id)
	}
	refusedBefore := map[string]int64{}
	for _, id := range ids {
		refusedBefore[id], _ = c.node(id).TLS().Refused()
	}

	for _, a := range attackers {
		t.Run(a.name, func(t *testing.T) {
			rogue := newRogue(t, a.bundle, a.plain)
			trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
				Stream: rogue, MaxPool: 1, Timeout: 3 * time.Second, Logger: hclog.NewNullLogger(),
			})
			defer trans.Close()
			hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("n2"), Addr: []byte(trans.LocalAddr())}
			term := before[follower.ID()].term + 100
			fRefused, _ := follower.TLS().Refused()
			lRefused, _ := leader.TLS().Refused()

			// AppendEntries claiming leadership of a far newer term, with a
			// command: if accepted it would depose the leader and log "evil".
			var aer raft.AppendEntriesResponse
			err := trans.AppendEntries(raft.ServerID(follower.ID()), raft.ServerAddress(follower.Addr()), &raft.AppendEntriesRequest{
				RPCHeader: hdr, Term: term, PrevLogEntry: before[follower.ID()].lastIndex, PrevLogTerm: before[follower.ID()].term,
				Entries:           []*raft.Log{{Index: before[follower.ID()].lastIndex + 1, Term: term, Type: raft.LogCommand, Data: []byte("evil")}},
				LeaderCommitIndex: before[follower.ID()].lastIndex + 1,
			}, &aer)
			if err == nil {
				t.Fatalf("AppendEntries accepted: %+v", aer)
			}
			// RequestVote on the leader with a newer term.
			var rvr raft.RequestVoteResponse
			err = trans.RequestVote(raft.ServerID(leader.ID()), raft.ServerAddress(leader.Addr()), &raft.RequestVoteRequest{
				RPCHeader: hdr, Term: term, LastLogIndex: 1 << 40, LastLogTerm: term,
			}, &rvr)
			if err == nil {
				t.Fatalf("RequestVote accepted: %+v", rvr)
			}
			// Refused by the targets' TLS layers, not by raft: the server
			// side counts the failed handshake (it may finish just after
			// the rogue sees its error).
			waitFor(t, 3*time.Second, func() bool {
				f, _ := follower.TLS().Refused()
				l, _ := leader.TLS().Refused()
				return f > fRefused && l > lRefused
			})

			// Join: the leader probes the rogue's address and refuses it,
			// before any configuration change.
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			go serveGarbage(rogue) // answer the probe the way the rogue can
			err = leader.Join(ctx, Peer{ID: "n9", Addr: rogue.Addr().String(), Voter: true})
			if err == nil {
				t.Fatal("leader joined a peer with no valid certificate")
			}
			t.Logf("join refused: %v", err)
		})
	}

	// Every attempt was refused at the TLS layer of its target.
	for _, id := range []string{follower.ID(), leader.ID()} {
		n, last := c.node(id).TLS().Refused()
		if n-refusedBefore[id] < int64(len(attackers)) {
			t.Errorf("%s refused %d handshakes, want >= %d (last: %s)", id, n-refusedBefore[id], len(attackers), last)
		}
	}
	if n, last := follower.TLS().Refused(); n == 0 || !strings.Contains(last, "TLS from") {
		t.Errorf("follower refusal record: %d %q", n, last)
	} else {
		t.Logf("follower's last refusal: %s", last)
	}

	// Well past an election timeout: nobody moved.
	time.Sleep(3 * LoopbackTiming().Election)
	for _, id := range ids {
		if after := viewOf(c, id); !sameView(before[id], after) {
			t.Errorf("%s changed:\nbefore %+v\nafter  %+v", id, before[id], after)
		}
		for _, cmd := range c.fsm(id).list() {
			if cmd == "evil" {
				t.Errorf("%s applied the rogue's command", id)
			}
		}
	}
	// And the cluster still works.
	c.apply("after")
	c.converge(append(seq("a", 0, 10), "after"), ids...)
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("condition not reached")
		}
	}
}

// serveGarbage accepts connections on the rogue listener and holds them
// open briefly, so the probe fails on the certificate, not on a refused
// port.
func serveGarbage(r *rogueLayer) {
	for {
		c, err := r.Accept()
		if err != nil {
			return
		}
		go func() {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()
		}()
	}
}

// TestJoinRequiresMatchingIdentity: a node with a valid certificate cannot
// be added under another node's id, and the dial path refuses a server
// whose certificate names another node than the configuration expects.
func TestJoinRequiresMatchingIdentity(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(1)
	leader := c.leader()
	n2 := c.start("n2")
	before := viewOf(c, "n1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := leader.Join(ctx, Peer{ID: "n3", Addr: n2.Addr()})
	if !errors.Is(err, ErrPeerIdentity) {
		t.Fatalf("join n3 at n2's address: %v", err)
	}
	if after := viewOf(c, "n1"); !sameView(before, after) {
		t.Fatalf("configuration changed: %+v -> %+v", before, after)
	}
	// The direct dial check: n2's address expected to be n3.
	if _, err := leader.TLS().DialNode(raft.ServerAddress(n2.Addr()), "n3", time.Second); !errors.Is(err, ErrPeerIdentity) {
		t.Fatalf("DialNode wrong id: %v", err)
	}
	if conn, err := leader.TLS().DialNode(raft.ServerAddress(n2.Addr()), "n2", time.Second); err != nil {
		t.Fatalf("DialNode right id: %v", err)
	} else {
		conn.Close()
	}
	if err := leader.Join(ctx, Peer{ID: "n2", Addr: n2.Addr()}); err != nil {
		t.Fatal(err)
	}
	c.apply("x")
	c.converge([]string{"x"}, "n1", "n2")
}
