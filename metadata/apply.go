package metadata

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// apply decodes one log entry and runs its command. It never panics on
// input: malformed entries are refused with CodeInvalid like any other
// validation error, identically on every replica.
func (s *state) apply(index uint64, data []byte) *Result {
	s.index = index
	return s.applyOne(&applyCtx{index: index, sub: -1}, data)
}

// applyEntry applies a log entry that may be packed (pack.go): a packed one
// answers with Results, one per command; a malformed one with a single
// refusal, identically on every replica.
func (s *state) applyEntry(index uint64, data []byte) any {
	if !IsPacked(data) {
		return s.apply(index, data)
	}
	s.index = index
	cmds, err := UnpackCommands(data)
	if err != nil {
		return &Result{Index: index, Err: errf(CodeInvalid, "%v", err)}
	}
	out := make(Results, len(cmds))
	for i, cmd := range cmds {
		out[i] = s.applyOne(&applyCtx{index: index, sub: i}, cmd)
	}
	return out
}

// applyOne runs one command in c, the context of its log entry.
func (s *state) applyOne(c *applyCtx, data []byte) *Result {
	var cmd Command
	if err := json.Unmarshal(data, &cmd); err != nil {
		return &Result{Index: c.index, Err: errf(CodeInvalid, "malformed command: %v", err)}
	}
	c.at = cmd.Time.UTC()
	var r *Result
	if cmd.Request != "" {
		r = s.applyKeyed(c, cmd)
	} else {
		r = s.dispatch(c, cmd)
	}
	r.Index = c.index
	return r
}

// decode unmarshals a payload strictly: an unknown field means the command
// was built for a different version of the model, and guessing would fork
// the replicas' behaviour.
func decode[T any](raw json.RawMessage) (T, *Error) {
	var p T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, errf(CodeInvalid, "malformed payload: %v", err)
	}
	return p, nil
}

// run decodes the payload into T and calls h.
func run[T any](s *state, c *applyCtx, raw json.RawMessage, h func(*state, *applyCtx, T) *Result) *Result {
	p, err := decode[T](raw)
	if err != nil {
		return &Result{Err: err}
	}
	return h(s, c, p)
}

func (s *state) dispatch(c *applyCtx, cmd Command) *Result {
	switch cmd.Type {
	case CmdNodeJoin:
		return run(s, c, cmd.Payload, (*state).nodeJoin)
	case CmdNodeLeave:
		return run(s, c, cmd.Payload, (*state).nodeLeave)
	case CmdNodeSetState:
		return run(s, c, cmd.Payload, (*state).nodeSetState)
	case CmdVGCreate:
		return run(s, c, cmd.Payload, (*state).vgCreate)
	case CmdVGRemove:
		return run(s, c, cmd.Payload, (*state).vgRemove)
	case CmdVGSet:
		return run(s, c, cmd.Payload, (*state).vgSet)
	case CmdPoolAdd:
		return run(s, c, cmd.Payload, (*state).poolAdd)
	case CmdPoolGrow:
		return run(s, c, cmd.Payload, (*state).poolGrow)
	case CmdPoolRemove:
		return run(s, c, cmd.Payload, (*state).poolRemove)
	case CmdPoolReportUsage:
		return run(s, c, cmd.Payload, (*state).poolReportUsage)
	case CmdPoolQuarantine:
		return run(s, c, cmd.Payload, (*state).poolQuarantine)
	case CmdPoolUnquarantine:
		return run(s, c, cmd.Payload, (*state).poolUnquarantine)
	case CmdVolumeCreate:
		return run(s, c, cmd.Payload, (*state).volumeCreate)
	case CmdVolumeExtend:
		return run(s, c, cmd.Payload, (*state).volumeExtend)
	case CmdVolumeRename:
		return run(s, c, cmd.Payload, (*state).volumeRename)
	case CmdVolumeDelete:
		return run(s, c, cmd.Payload, (*state).volumeDelete)
	case CmdVolumeSetTags:
		return run(s, c, cmd.Payload, (*state).volumeSetTags)
	case CmdVolumeSetReadOnly:
		return run(s, c, cmd.Payload, (*state).volumeSetReadOnly)
	case CmdVolumeSetActive:
		return run(s, c, cmd.Payload, (*state).volumeSetActive)
	case CmdVolumeSetSkip:
		return run(s, c, cmd.Payload, (*state).volumeSetActivationSkip)
	case CmdSnapshotCreate:
		return run(s, c, cmd.Payload, (*state).snapshotCreate)
	case CmdVolumeRevert:
		return run(s, c, cmd.Payload, (*state).volumeRevert)
	case CmdIntentComplete:
		return run(s, c, cmd.Payload, (*state).intentComplete)
	case CmdIntentAbandon:
		return run(s, c, cmd.Payload, (*state).intentAbandon)
	}
	return &Result{Err: errf(CodeInvalid, "unknown command type %q", cmd.Type)}
}

// String renders a result for logs and test failures.
func (r *Result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("#%d %s", r.Index, r.Err)
	}
	return fmt.Sprintf("#%d ok uuid=%s intents=%v batch=%d already=%v replayed=%v", r.Index, r.UUID, r.Intents, r.Batch, r.Already, r.Replayed)
}
