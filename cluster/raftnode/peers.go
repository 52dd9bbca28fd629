package raftnode

import (
	"time"

	"github.com/hashicorp/raft"
)

// PeerEvent is the leader's view of one peer's heartbeats: failing (Up
// false, with the last time the peer answered) or answering again.
type PeerEvent struct {
	ID          string
	Up          bool
	LastContact time.Time
}

// WatchPeers returns the heartbeat failures and recoveries this node sees
// while it leads (raft's FailedHeartbeat and ResumedHeartbeat
// observations). A failing peer produces an event at every failed
// heartbeat (raft backs off to half a heartbeat timeout), so a reader that
// misses one sees the next; events are dropped, never queued without
// bound, when the reader is slow. cancel stops the watch.
func (n *Node) WatchPeers() (<-chan PeerEvent, func()) {
	obs := make(chan raft.Observation, 64)
	out := make(chan PeerEvent, 64)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(o)
	quit := make(chan struct{})
	go func() {
		for {
			var ev PeerEvent
			select {
			case <-quit:
				return
			case ob := <-obs:
				switch d := ob.Data.(type) {
				case raft.FailedHeartbeatObservation:
					ev = PeerEvent{ID: string(d.PeerID), LastContact: d.LastContact}
				case raft.ResumedHeartbeatObservation:
					ev = PeerEvent{ID: string(d.PeerID), Up: true}
				}
			}
			select {
			case out <- ev:
			default:
			}
		}
	}()
	stopped := false
	return out, func() {
		if !stopped {
			stopped = true
			n.raft.DeregisterObserver(o)
			close(quit)
		}
	}
}
