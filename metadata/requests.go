package metadata

import (
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

// requestEntry is one remembered keyed command.
type requestEntry struct {
	Key    string      `json:"key"`
	Type   CommandType `json:"type"`
	At     time.Time   `json:"at"`
	Result Result      `json:"result"`
}

// requestTable is a FIFO of entries in apply order with an index by key.
type requestTable struct {
	byKey map[string]*requestEntry
	order []*requestEntry
	head  int
}

func newRequestTable() requestTable {
	return requestTable{byKey: map[string]*requestEntry{}}
}

func (t *requestTable) len() int { return len(t.order) - t.head }

// expire drops entries older than window before at, and the oldest beyond
// limit.
func (t *requestTable) expire(at time.Time, window time.Duration, limit int) {
	for t.head < len(t.order) {
		e := t.order[t.head]
		if t.len() <= limit && at.Sub(e.At) <= window {
			break
		}
		delete(t.byKey, e.Key)
		t.order[t.head] = nil
		t.head++
	}
	// Compact once the dead prefix is the larger half, so appends stay
	// amortised O(1) and memory follows the live entries.
	if t.head > 1024 && t.head*2 > len(t.order) {
		n := copy(t.order, t.order[t.head:])
		clear(t.order[n:])
		t.order, t.head = t.order[:n], 0
	}
}

func (t *requestTable) add(e *requestEntry) {
	t.byKey[e.Key] = e
	t.order = append(t.order, e)
}

// entries returns the live entries, oldest first.
func (t *requestTable) entries() []*requestEntry { return t.order[t.head:] }

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
	if e := s.requests.byKey[cmd.Request]; e != nil {
		if e.Type != cmd.Type {
			return &Result{Err: errf(CodeInvalid, "idempotency key %s was used for a %s command, not %s; use a new key for every call", cmd.Request, e.Type, cmd.Type)}
		}
		r := e.Result
		r.Replayed = true
		return &r
	}
	r := s.dispatch(c, cmd)
	if r.Err == nil {
		s.requests.add(&requestEntry{Key: cmd.Request, Type: cmd.Type, At: c.at, Result: *r})
	}
	return r
}
