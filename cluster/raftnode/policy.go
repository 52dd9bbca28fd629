package raftnode

import (
	"context"
	"sort"
)

// VoterTarget is how many voters a cluster of members nodes should have:
// 1, 3 or 5. An even count never helps (4 voters tolerate one failure, as
// 3 do, but need a bigger quorum), and beyond 5 every commit waits for
// more acknowledgements without a useful gain in fault tolerance.
func VoterTarget(members int) int {
	switch {
	case members >= 5:
		return 5
	case members >= 3:
		return 3
	default:
		return 1
	}
}

// Member is a configured server and whether the caller considers it fit to
// vote (alive and caught up; the caller decides, e.g. from agent reports).
// Health must have hysteresis (e.g. "no contact for 10 s"), not be an
// instantaneous lag check: a voter a few entries behind for a moment is
// healthy, or every rebalance would swap voters back and forth.
type Member struct {
	Peer
	Healthy bool
}

// Change is one suffrage change; Promote false means demote.
type Change struct {
	ID      string
	Promote bool
}

// PlanVoters chooses the suffrage changes that bring the cluster to
// VoterTarget(len(members)) voters, preferring healthy ones. Promotions
// come first, so quorum never shrinks before a replacement votes. Healthy
// voters keep their vote unless there are more than the target; unhealthy
// voters are demoted only when a healthy node has taken their place, since
// a dead voter is still better than an even voter count made of fewer live
// nodes. The leader is never demoted. The plan is deterministic: ties go
// by id.
func PlanVoters(members []Member, leader string) []Change {
	ms := append([]Member(nil), members...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	target := VoterTarget(len(ms))
	var healthyV, sickV, spares []string
	for _, m := range ms {
		switch {
		case m.Voter && (m.Healthy || m.ID == leader):
			healthyV = append(healthyV, m.ID)
		case m.Voter:
			sickV = append(sickV, m.ID)
		case m.Healthy:
			spares = append(spares, m.ID)
		}
	}
	var plan []Change
	for len(healthyV) < target && len(spares) > 0 {
		plan = append(plan, Change{ID: spares[0], Promote: true})
		healthyV = append(healthyV, spares[0])
		spares = spares[1:]
	}
	voters := len(healthyV) + len(sickV)
	for i := len(sickV) - 1; i >= 0 && voters > target; i-- {
		plan = append(plan, Change{ID: sickV[i]})
		voters--
	}
	for i := len(healthyV) - 1; i >= 0 && voters > target; i-- {
		if healthyV[i] == leader {
			continue
		}
		plan = append(plan, Change{ID: healthyV[i]})
		voters--
	}
	return plan
}

// Rebalance applies PlanVoters to the current configuration, one change at
// a time, and returns the changes made. Leader only. healthy reports
// whether a node is fit to vote.
func (n *Node) Rebalance(ctx context.Context, healthy func(id string) bool) ([]Change, error) {
	servers, _, err := n.Servers()
	if err != nil {
		return nil, err
	}
	members := make([]Member, len(servers))
	for i, s := range servers {
		members[i] = Member{Peer: s, Healthy: healthy(s.ID)}
	}
	var done []Change
	for _, c := range PlanVoters(members, n.cfg.ID) {
		if c.Promote {
			err = n.Promote(ctx, c.ID)
		} else {
			err = n.Demote(ctx, c.ID)
		}
		if err != nil {
			return done, err
		}
		done = append(done, c)
	}
	return done, nil
}
