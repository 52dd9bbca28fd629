package raftnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Peer is a member of the Raft configuration.
type Peer struct {
	ID    string
	Addr  string
	Voter bool
}

// Servers returns the latest configuration (possibly not yet committed).
func (n *Node) Servers() ([]Peer, uint64, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, 0, fmt.Errorf("raftnode: configuration: %w", err)
	}
	var out []Peer
	for _, s := range f.Configuration().Servers {
		out = append(out, Peer{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, f.Index(), nil
}

// Bootstrap writes the initial configuration: this node alone as a voter
// when peers is empty, else exactly peers (which must include this node,
// and every listed node must be bootstrapped with the same list). Only a
// node without Raft state may be bootstrapped; raft.ErrCantBootstrap
// otherwise.
func (n *Node) Bootstrap(peers ...Peer) error {
	if len(peers) == 0 {
		peers = []Peer{{ID: n.cfg.ID, Addr: n.Addr(), Voter: true}}
	}
	var cfg raft.Configuration
	self, voters := false, 0
	for _, p := range peers {
		s := raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr), Suffrage: raft.Nonvoter}
		if p.Voter {
			s.Suffrage = raft.Voter
			voters++
		}
		self = self || p.ID == n.cfg.ID
		cfg.Servers = append(cfg.Servers, s)
	}
	if !self {
		return fmt.Errorf("raftnode: bootstrap %s: configuration does not include this node", n.cfg.ID)
	}
	if voters == 0 {
		return fmt.Errorf("raftnode: bootstrap %s: %w", n.cfg.ID, ErrLastVoter)
	}
	if err := n.raft.BootstrapCluster(cfg).Error(); err != nil {
		return fmt.Errorf("raftnode: bootstrap %s: %w", n.cfg.ID, err)
	}
	return nil
}

// Join adds p to the cluster, as a voter or a non-voter. Leader only. The
// leader first dials p and requires its certificate to name p.ID, so a
// typo or an impostor is refused before the configuration changes. Join is
// idempotent: a member already present with that address keeps its place
// (a non-voter asked to join as voter is promoted; a voter is never
// demoted by Join); a known id at a new address is re-addressed.
func (n *Node) Join(ctx context.Context, p Peer) error {
	ctx, cancel := n.bound(ctx)
	defer cancel()
	if !n.IsLeader() {
		return n.classify("join "+p.ID, raft.ErrNotLeader)
	}
	servers, idx, err := n.Servers()
	if err != nil {
		return err
	}
	for _, s := range servers {
		if s.ID == p.ID && s.Addr == p.Addr && (s.Voter || !p.Voter) {
			return nil
		}
		if s.ID != p.ID && s.Addr == p.Addr {
			return fmt.Errorf("raftnode: join %s: address %s belongs to %s; remove it first", p.ID, p.Addr, s.ID)
		}
	}
	if err := n.probe(ctx, p); err != nil {
		return err
	}
	id, addr, tmo := raft.ServerID(p.ID), raft.ServerAddress(p.Addr), enqueueTimeout(ctx)
	var f raft.IndexFuture
	if p.Voter {
		f = n.raft.AddVoter(id, addr, idx, tmo)
	} else {
		f = n.raft.AddNonvoter(id, addr, idx, tmo)
	}
	return n.classify("join "+p.ID, waitFuture(ctx, f))
}

// probe dials p over TLS and checks it is node p.ID.
func (n *Node) probe(ctx context.Context, p Peer) error {
	tmo := DefaultHandshakeTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < tmo {
		tmo = time.Until(d)
	}
	c, err := n.tls.DialNode(raft.ServerAddress(p.Addr), raft.ServerID(p.ID), tmo)
	if err != nil {
		return fmt.Errorf("raftnode: join %s: probe %s: %w", p.ID, p.Addr, err)
	}
	return c.Close()
}

// Promote makes non-voter id a voter. Leader only.
func (n *Node) Promote(ctx context.Context, id string) error {
	p, idx, err := n.member(id)
	if err != nil {
		return err
	}
	if p.Voter {
		return nil
	}
	ctx, cancel := n.bound(ctx)
	defer cancel()
	return n.classify("promote "+id, waitFuture(ctx, n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(p.Addr), idx, enqueueTimeout(ctx))))
}

// Demote makes voter id a non-voter, refusing to demote the last voter.
// Leader only; a leader demoting itself steps down.
func (n *Node) Demote(ctx context.Context, id string) error {
	p, idx, err := n.member(id)
	if err != nil {
		return err
	}
	if !p.Voter {
		return nil
	}
	if err := n.keepsAVoter(id); err != nil {
		return err
	}
	ctx, cancel := n.bound(ctx)
	defer cancel()
	return n.classify("demote "+id, waitFuture(ctx, n.raft.DemoteVoter(raft.ServerID(id), idx, enqueueTimeout(ctx))))
}

// Remove takes id out of the configuration: a node that left, or a dead
// one that will not come back. Idempotent. Leader only. The last voter
// cannot be removed. Removing the leader itself works but costs an
// election; Leave transfers leadership first.
func (n *Node) Remove(ctx context.Context, id string) error {
	if !n.IsLeader() {
		return n.classify("remove "+id, raft.ErrNotLeader)
	}
	_, idx, err := n.member(id)
	if errors.Is(err, ErrUnknownServer) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := n.keepsAVoter(id); err != nil {
		return err
	}
	ctx, cancel := n.bound(ctx)
	defer cancel()
	return n.classify("remove "+id, waitFuture(ctx, n.raft.RemoveServer(raft.ServerID(id), idx, enqueueTimeout(ctx))))
}

// RemoveFunc asks the current leader to remove node id. The API layer
// supplies it (it forwards the request over HTTPS); in-process tests call
// the leader's Node.Remove.
type RemoveFunc func(ctx context.Context, leader Peer, id string) error

// Leave takes this node out of the cluster gracefully. A leader first
// hands leadership to another voter (no election gap), then, like any
// follower, asks the leader to remove it through ask. The caller shuts
// the node down afterwards.
func (n *Node) Leave(ctx context.Context, ask RemoveFunc) error {
	ctx, cancel := n.bound(ctx)
	defer cancel()
	if err := n.keepsAVoter(n.cfg.ID); err != nil {
		return err
	}
	if n.IsLeader() {
		if err := n.transferLeadership(ctx); err != nil {
			return err
		}
	}
	st, err := n.waitOtherLeader(ctx)
	if err != nil {
		return err
	}
	if ask == nil {
		return fmt.Errorf("raftnode: leave %s: no way to reach leader %s", n.cfg.ID, st.LeaderID)
	}
	if err := ask(ctx, Peer{ID: st.LeaderID, Addr: st.LeaderAddr, Voter: true}, n.cfg.ID); err != nil {
		return fmt.Errorf("raftnode: leave %s via leader %s: %w", n.cfg.ID, st.LeaderID, err)
	}
	return nil
}

func (n *Node) transferLeadership(ctx context.Context) error {
	if err := waitFuture(ctx, n.raft.LeadershipTransfer()); err != nil {
		return fmt.Errorf("raftnode: leave %s: transfer leadership: %w", n.cfg.ID, err)
	}
	return nil
}

// waitOtherLeader waits until a leader other than this node is known.
func (n *Node) waitOtherLeader(ctx context.Context) (LeaderState, error) {
	ch, cancel := n.WatchLeader()
	defer cancel()
	for {
		if s := n.State(); s.LeaderID != "" && s.LeaderID != n.cfg.ID {
			return s, nil
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return LeaderState{}, fmt.Errorf("raftnode: leave %s: no other leader: %w", n.cfg.ID, ctx.Err())
		}
	}
}

// member finds id in the latest configuration, returning the
// configuration index for a conditional change.
func (n *Node) member(id string) (Peer, uint64, error) {
	servers, idx, err := n.Servers()
	if err != nil {
		return Peer{}, 0, err
	}
	for _, s := range servers {
		if s.ID == id {
			return s, idx, nil
		}
	}
	return Peer{}, 0, fmt.Errorf("raftnode: %w: %q", ErrUnknownServer, id)
}

// keepsAVoter refuses a change that takes away the only voter id.
func (n *Node) keepsAVoter(id string) error {
	servers, _, err := n.Servers()
	if err != nil {
		return err
	}
	others := 0
	for _, s := range servers {
		if s.Voter && s.ID != id {
			others++
		}
	}
	if others == 0 {
		return fmt.Errorf("raftnode: %s: %w", id, ErrLastVoter)
	}
	return nil
}
