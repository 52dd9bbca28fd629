package api

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// operationOf collects the intents of the command at Raft index id. It
// reports false when none is known: a wrong id, or one whose intents have
// all left the FSM's bounded history.
func operationOf(v metadata.View, id string) (*Operation, bool) {
	if !validOpID(id) {
		return nil, false
	}
	op := &Operation{ID: id, State: OpDone}
	for n := 0; ; n++ {
		in, ok := v.Intent(fmt.Sprintf("%s-%d", id, n))
		if !ok {
			break
		}
		op.Intents = append(op.Intents, in)
		switch {
		case in.State == metadata.IntentPending:
			op.State = OpPending
		case in.State == metadata.IntentAbandoned && op.State != OpPending:
			op.State = OpAbandoned
			if op.Reason == "" {
				op.Reason = in.Reason
			}
		}
	}
	if len(op.Intents) == 0 {
		return nil, false
	}
	return op, true
}

// validOpID accepts the operation ids the FSM's intent ids start with:
// "<index>" or, for a command of a packed entry, "<index>.<position>".
func validOpID(id string) bool {
	index, sub, packed := strings.Cut(id, ".")
	if _, err := strconv.ParseUint(index, 10, 64); err != nil {
		return false
	}
	if packed {
		if _, err := strconv.ParseUint(sub, 10, 32); err != nil {
			return false
		}
	}
	return true
}

// opID is the operation id of a command that queued intents.
func opID(res *metadata.Result) string {
	if len(res.Intents) == 0 {
		return ""
	}
	id, _, _ := strings.Cut(res.Intents[0], "-")
	return id
}

// operation reads an operation from the local FSM.
func (s *Server) operation(id string) (*Operation, bool) {
	var op *Operation
	var ok bool
	s.cfg.FSM.Read(func(v metadata.View) { op, ok = operationOf(v, id) })
	return op, ok
}

// waitOperation waits up to d for operation id to finish and returns its
// last state. It sleeps on the FSM's waiter of the operation's first
// pending intent (metadata.FSM.WaitIntent), so it wakes when that intent
// finishes rather than on every applied command. Completions reach this
// replica through the log, so no polling of the leader is involved.
func (s *Server) waitOperation(ctx context.Context, id string, d time.Duration) (*Operation, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		op, ok := s.operation(id)
		if !ok {
			return nil, errorf("not_found", "operation "+id+" not found (unknown id, or finished and dropped from history)")
		}
		if op.Finished() || d <= 0 {
			return op, nil
		}
		// The intent may finish between the read and this call: WaitIntent
		// then answers with a closed channel.
		ch, cancel := s.cfg.FSM.WaitIntent(firstPending(op))
		select {
		case <-ch:
			cancel()
		case <-timer.C:
			cancel()
			return op, nil
		case <-ctx.Done():
			cancel()
			return op, nil
		}
	}
}

// firstPending is the id of op's first pending intent.
func firstPending(op *Operation) string {
	for _, in := range op.Intents {
		if in.State == metadata.IntentPending {
			return in.ID
		}
	}
	return ""
}
