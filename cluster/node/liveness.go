package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/thinraft/thinraft/cluster/raftnode"
	"github.com/thinraft/thinraft/metadata"
)

// Liveness. The model's node state decides whether a pool accepts changes
// (metadata: an intent queued for a dead node's pool would wait for ever,
// so the command is refused `unavailable` instead), and it is what lvs/pvs
// and the driver's backend_state report. Two sides keep it true:
//
//   - the leader marks a node down when its heartbeats have failed for
//     downAfter (raft's FailedHeartbeat observations), and up again when
//     they resume;
//   - every node checks its own record each livenessPoll and, if it finds
//     itself down while it can reach a leader (a partition healed under
//     another leader, which never saw the heartbeats fail), proposes
//     itself up.
const livenessPoll = 2 * time.Second

// downAfter is how long a node's heartbeats must fail before the leader
// marks it down: several heartbeat timeouts, so an election or a GC pause
// does not flap it.
func downAfter(t raftnode.Timing) time.Duration { return 5 * t.Heartbeat }

type liveness struct {
	self  string
	rn    *raftnode.Node
	fsm   *metadata.FSM
	prop  *proposer
	after time.Duration
	log   *slog.Logger
}

func (l *liveness) run(ctx context.Context) {
	events, stop := l.rn.WatchPeers()
	defer stop()
	leads, stopLeads := l.rn.WatchLeader()
	defer stopLeads()
	var leaderSince time.Time
	tick := time.NewTicker(livenessPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case st := <-leads:
			if st.IsLeader && leaderSince.IsZero() {
				leaderSince = time.Now()
			} else if !st.IsLeader {
				leaderSince = time.Time{}
			}
		case ev := <-events:
			if leaderSince.IsZero() {
				continue
			}
			// A peer never reached since this node leads counts from the
			// start of its term, not from the zero time.
			last := ev.LastContact
			if last.Before(leaderSince) {
				last = leaderSince
			}
			switch {
			case ev.Up:
				l.set(ctx, ev.ID, metadata.NodeUp)
			case time.Since(last) >= l.after:
				l.set(ctx, ev.ID, metadata.NodeDown)
			}
		case <-tick.C:
			l.set(ctx, l.self, metadata.NodeUp)
		}
	}
}

// set proposes state for node id when the local replica says otherwise.
// Nodes that left are never touched.
func (l *liveness) set(ctx context.Context, id string, state metadata.NodeState) {
	var cur metadata.NodeState
	l.fsm.Read(func(v metadata.View) {
		if n, ok := v.Node(id); ok {
			cur = n.State
		}
	})
	if cur == "" || cur == state || cur == metadata.NodeLeft {
		return
	}
	payload, err := json.Marshal(metadata.NodeSetState{ID: id, State: state})
	if err != nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, livenessPoll)
	defer cancel()
	c := metadata.Command{Type: metadata.CmdNodeSetState, Time: time.Now().UTC(), Payload: payload}
	if _, err := l.prop.Propose(pctx, c); err != nil {
		l.log.Debug("node state not recorded", "node", id, "state", state, "err", err)
		return
	}
	l.log.Warn("node state recorded", "node", id, "state", state)
}
