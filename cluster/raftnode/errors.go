package raftnode

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// Sentinel errors callers branch on. Raft's own sentinels (raft.ErrNotLeader,
// raft.ErrRaftShutdown, ...) stay reachable through errors.Is.
var (
	// ErrOutcomeUnknown: the command reached the leader's log but the caller
	// cannot know whether it committed (leadership lost, shutdown, or the
	// context expired while waiting). Retry only idempotent commands, or read
	// to find out.
	ErrOutcomeUnknown = errors.New("raftnode: outcome unknown")
	// ErrLastVoter: the change would leave the cluster without a voter.
	ErrLastVoter = errors.New("raftnode: would remove the last voter")
	// ErrWrongDir: the data directory belongs to another node id.
	ErrWrongDir = errors.New("raftnode: data directory belongs to another node")
	// ErrUnknownServer: no server with that id in the configuration.
	ErrUnknownServer = errors.New("raftnode: no such server")
)

// NotLeaderError is returned by leader-only calls on a follower. It names
// the leader when one is known, so the API layer can forward the request.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "raftnode: not the leader (no leader known)"
	}
	return fmt.Sprintf("raftnode: not the leader (leader is %s at %s)", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, raft.ErrNotLeader) hold.
func (e *NotLeaderError) Is(target error) bool { return target == raft.ErrNotLeader }

// classify maps raft's errors onto the ones callers branch on. what names
// the operation for the message.
func (n *Node) classify(what string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrNotVoter):
		addr, id := n.raft.LeaderWithID()
		return fmt.Errorf("%s: %w", what, &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)})
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%s: %w: %w", what, ErrOutcomeUnknown, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
