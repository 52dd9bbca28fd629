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

// remembered is a request table entry in memory. The table holds every
// keyed command of the last five minutes (100,000 and more after a bulk
// load), and the garbage collector marks all of it on every cycle, at a
// cost in proportion to the objects; a result kept as a Result is three or
// four of them (its entry, the intents slice, each intent id). So the
// result is kept encoded (packResult) and the entry by value in the FIFO:
// two pointer-free objects per key, the key and the bytes.
type remembered struct {
	key string
	typ CommandType // one of the constants (internType)
	at  time.Time
	res []byte
}

// requestTable is a FIFO of entries in apply order, in chunks of
// reqChunk, with an index by key. Entries are numbered in apply order:
// head is the oldest live one's number, next the number the next add
// takes, base the number of chunks[0][0]. Chunks, not one slice: the table
// grows to the whole bulk load and more, and a slice that doubles would
// copy it all at every doubling (16 MB at 100,000 keys, each a burst of
// garbage) and again to compact it once the oldest expire.
type requestTable struct {
	byKey            map[string]uint64
	chunks           [][]remembered
	base, head, next uint64
}

const reqChunk = 1024

func newRequestTable() requestTable {
	return requestTable{byKey: map[string]uint64{}}
}

func (t *requestTable) len() int { return int(t.next - t.head) }

func (t *requestTable) at(seq uint64) *remembered {
	i := seq - t.base
	return &t.chunks[i/reqChunk][i%reqChunk]
}

// lookup returns key's entry, nil if the key is not remembered.
func (t *requestTable) lookup(key string) *remembered {
	seq, ok := t.byKey[key]
	if !ok {
		return nil
	}
	return t.at(seq)
}

// expire drops entries older than window before at, and the oldest beyond
// limit.
func (t *requestTable) expire(at time.Time, window time.Duration, limit int) {
	for t.head < t.next {
		e := t.at(t.head)
		if t.len() <= limit && at.Sub(e.at) <= window {
			break
		}
		delete(t.byKey, e.key)
		*e = remembered{}
		t.head++
		if t.head-t.base == reqChunk {
			t.chunks[0] = nil
			t.chunks = t.chunks[1:]
			t.base += reqChunk
		}
	}
}

// add remembers a successful keyed command's result.
func (t *requestTable) add(key string, typ CommandType, at time.Time, r *Result) {
	if t.next-t.base == uint64(len(t.chunks))*reqChunk {
		t.chunks = append(t.chunks, make([]remembered, reqChunk))
	}
	*t.at(t.next) = remembered{key: key, typ: internType(typ), at: at, res: packResult(r)}
	t.byKey[key] = t.next
	t.next++
}

// live returns copies of the live entries, oldest first. Their strings
// and bytes are never changed after add, so a snapshot may keep them past
// the FSM's lock.
func (t *requestTable) live() []remembered {
	out := make([]remembered, 0, t.len())
	for seq := t.head; seq < t.next; seq++ {
		out = append(out, *t.at(seq))
	}
	return out
}

// entry is e in the form snapshots write.
func (e *remembered) entry() requestEntry {
	return requestEntry{Key: e.key, Type: e.typ, At: e.at, Result: unpackResult(e.res)}
}

// packResult encodes a remembered result: its index, uuid, intent ids and
// batch number, and Already. Err and Replayed are not kept (only
// successes are remembered; Replayed is set on the way out).
func packResult(r *Result) []byte {
	n := 24 + len(r.UUID)
	for _, id := range r.Intents {
		n += 2 + len(id)
	}
	b := make([]byte, 0, n)
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

// unpackResult decodes what packResult wrote. The bytes never leave the
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
	if e := s.requests.lookup(cmd.Request); e != nil {
		if e.typ != cmd.Type {
			return &Result{Err: errf(CodeInvalid, "idempotency key %s was used for a %s command, not %s; use a new key for every call", cmd.Request, e.typ, cmd.Type)}
		}
		r := unpackResult(e.res)
		r.Replayed = true
		return &r
	}
	r := s.dispatch(c, cmd)
	if r.Err == nil {
		s.requests.add(cmd.Request, cmd.Type, c.at, r)
	}
	return r
}
