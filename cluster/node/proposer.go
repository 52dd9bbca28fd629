package node

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/thinraft/thinraft/cluster/agent"
	"github.com/thinraft/thinraft/cluster/raftnode"
	"github.com/thinraft/thinraft/metadata"
)

// proposer is the agent's agent.Proposer: apply locally when this node
// leads, otherwise post the command to the leader's internal route, and
// follow leadership changes until the context ends.
//
// A retried command may already have been applied (an answer lost with a
// leader). Every command therefore goes out with an idempotency key, the
// same on each attempt, and the FSM answers a repeat of one that succeeded
// with its first result instead of applying it again. That matters beyond
// tidiness: a usage report applied twice could land after a newer one and
// put back an old open flag or old figures.
type proposer struct {
	rn      *raftnode.Node
	hc      *http.Client
	apiAddr func(id string) string
	log     *slog.Logger
	// order keeps this node's completions in transaction order when it
	// leads (the internal route does the same for other nodes').
	order *agent.CompletionOrder
}

var _ agent.Proposer = (*proposer)(nil)

func (p *proposer) Propose(ctx context.Context, cmd metadata.Command) (*metadata.Result, error) {
	if cmd.Request == "" {
		cmd.Request = "agent-" + rand.Text()
	}
	data, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("propose %s: %w", cmd.Type, err)
	}
	backoff := 20 * time.Millisecond
	var last error
	hint := ""
	for {
		res, err := p.once(ctx, cmd, data, hint)
		if err == nil {
			return res, nil
		}
		var r *errRetry
		if !errors.As(err, &r) {
			return nil, fmt.Errorf("propose %s: %w", cmd.Type, err)
		}
		hint, last = r.leader, err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("propose %s: %w (last: %v)", cmd.Type, ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// once makes one attempt; errRetry means try again.
func (p *proposer) once(ctx context.Context, cmd metadata.Command, data []byte, hint string) (*metadata.Result, error) {
	if p.rn.IsLeader() {
		res, err := p.order.Apply(ctx, cmd, submitter(ctx, p.rn, data))
		if err != nil {
			return nil, &errRetry{err: err}
		}
		return res, nil
	}
	addr := hint
	if id, _ := p.rn.Leader(); id != "" {
		if a := p.apiAddr(id); a != "" {
			addr = a
		}
	}
	if addr == "" {
		return nil, &errRetry{err: errors.New("no leader known")}
	}
	var res metadata.Result
	if err := postInternal(ctx, p.hc, addr, routePropose, data, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
