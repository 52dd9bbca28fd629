package metadata

import (
	"encoding/binary"
	"time"
)

// Idempotency keys. A client that lost the answer to a write cannot tell
// whether it was applied; repeating it must not apply it twice (a repeated
// create after the volume was deleted would bring it back, a repeated
// delete would be refused although it succeeded). So every attempt of one
// logical call carries the same key (Command.Request), and the FSM keeps the
// result of each keyed command that SUCCEEDED for a bounded window; a repeat
// gets that result again, marked Replayed, and changes nothing. Refusals
// are not kept: a refused command changed nothing, so running its repeat
// afresh is as if the first attempt never happened — and a refusal that
// no longer applies (a node back up) does not stick to the key.
//
// The window is measured in command time (the leader's timestamps in the
// log), so every replica expires the same entries at the same index. It is
// much longer than any client retries (cluster/client gives up after 15 s
// by default); the count bound keeps memory flat under any load.
const (
	// DefaultRequestWindow is how long a key's result is kept.
	DefaultRequestWindow = 5 * time.Minute
	// DefaultRequestCap bounds how many keys are kept (oldest go first).
	DefaultRequestCap = 200_000
	// MaxRequestKey is the longest key accepted.
	MaxRequestKey = 128
)

// requestEntry is one remembered keyed command as snapshots write it.
type requestEntry struct {
	Key    string      `json:"key"`
	Type   CommandType `json:"type"`
	At     time.Time   `json:"at"`
	Result Result      `json:"result"`
}

// appendResult appends a remembered result's encoding to b: its index,
// uuid, intent ids and batch number, and Already. Err and Replayed are not
// kept (only successes are remembered; Replayed is set on the way out).
func appendResult(b []byte, r *Result) []byte {
	b = binary.AppendUvarint(b, r.Index)
	b = appendString(b, r.UUID)
	b = binary.AppendUvarint(b, uint64(len(r.Intents)))
	for _, id := range r.Intents {
		b = appendString(b, id)
	}
	b = binary.AppendUvarint(b, r.Batch)
	if r.Already {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// unpackResult decodes what appendResult wrote. The bytes never leave the
// process (snapshots write Results as JSON), so they are well formed.
func unpackResult(b []byte) Result {
	var r Result
	var n int
	uv := func() uint64 {
		v, k := binary.Uvarint(b)
		b = b[k:]
		return v
	}
	str := func() string {
		n := int(uv())
		s := string(b[:n])
		b = b[n:]
		return s
	}
	r.Index = uv()
	r.UUID = str()
	if n = int(uv()); n > 0 {
		r.Intents = make([]string, n)
		for i := range r.Intents {
			r.Intents[i] = str()
		}
	}
	r.Batch = uv()
	r.Already = b[0] == 1
	return r
}

// ValidateRequestKey accepts printable ASCII without spaces, up to
// MaxRequestKey bytes: the rule for Command.Request, which the API applies
// to the Idempotency-Key header too.
func ValidateRequestKey(k string) error {
	if err := validateRequestKey(k); err != nil {
		return err
	}
	return nil
}

func validateRequestKey(k string) *Error {
	if len(k) > MaxRequestKey {
		return errf(CodeInvalid, "idempotency key is %d bytes; at most %d", len(k), MaxRequestKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return errf(CodeInvalid, "idempotency key has a byte 0x%02x; use printable ASCII", k[i])
		}
	}
	return nil
}

// applyKeyed runs cmd through the request table: a repeat of a remembered
// key gets its first result; a new key's successful result is remembered.
func (s *state) applyKeyed(c *applyCtx, cmd Command) *Result {
	if err := validateRequestKey(cmd.Request); err != nil {
		return &Result{Err: err}
	}
	s.requests.expire(c.at, s.requestWindow, s.requestCap)
	if seq, ok := s.requests.lookup(cmd.Request); ok {
		if typ := s.requests.typeOf(seq); typ != cmd.Type {
			return &Result{Err: errf(CodeInvalid, "idempotency key %s was used for a %s command, not %s; use a new key for every call", cmd.Request, typ, cmd.Type)}
		}
		r := s.requests.result(seq)
		r.Replayed = true
		return &r
	}
	r := s.dispatch(c, cmd)
	if r.Err == nil {
		s.requests.add(cmd.Request, cmd.Type, c.at, r)
	}
	return r
}
