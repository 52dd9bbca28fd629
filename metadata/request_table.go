package metadata

import "time"

// requestTable remembers the results of keyed commands (requests.go) in
// apply order. It holds every keyed command of the last five minutes,
// 100,000 and more after a bulk load, and it is laid out so that the
// garbage collector, which marks the whole record on every cycle, has
// almost nothing to do in it: the entries are pointer-free values, the
// keys and packed results are bytes in one arena per chunk, and the index
// is keyed by a hash of the key (hashIndex). With a string and a byte
// slice per entry and a map keyed by string, the table was a third of what
// a collection marked at 100,000 volumes (BenchmarkHeapMark100k; docs/metadata.md,
// "Memory and the garbage collector").
//
// Entries are numbered in apply order: head is the oldest live one's
// number, next the number the next add takes, base the number of the
// first entry of chunks[0]. Chunks, not one slice: a slice that doubles
// would copy the whole table at every doubling, and again to compact it
// as the oldest expire; a chunk is dropped whole once all its entries
// have expired.
//
// Written only by the FSM's apply goroutine under the write lock. What
// live returns stays valid after the lock is released: an entry and its
// bytes never change once added (arenas only grow at their end, and a
// dropped chunk is left to the collector, not reused).
type requestTable struct {
	// index maps each live key to its entry number.
	index            hashIndex[uint64]
	chunks           []reqChunk
	base, head, next uint64
}

// reqChunkLen is the entries per chunk.
const reqChunkLen = 1024

type reqChunk struct {
	// arena holds each entry's key followed by its packed result.
	arena []byte
	ents  []remembered // reqChunkLen long once allocated
}

// remembered is one entry, pointer-free: its bytes are arena[off:],
// klen of key then rlen of packed result (appendResult).
type remembered struct {
	at   int64 // the command's time, Unix nanoseconds
	off  uint32
	rlen uint32
	klen uint8 // keys are at most MaxRequestKey bytes
	typ  uint8 // index in commandTypes
}

// key and res are e's bytes in arena, its chunk's.
func (e *remembered) key(arena []byte) []byte { return arena[e.off : e.off+uint32(e.klen)] }

func (e *remembered) res(arena []byte) []byte {
	start := e.off + uint32(e.klen)
	return arena[start : start+e.rlen]
}

func newRequestTable() requestTable {
	return requestTable{index: newHashIndex[uint64]()}
}

func (t *requestTable) len() int { return int(t.next - t.head) }

// indexed is how many keys the index holds (tests: it must equal len).
func (t *requestTable) indexed() int { return t.index.len() }

func (t *requestTable) chunkOf(seq uint64) (*reqChunk, *remembered) {
	i := seq - t.base
	c := &t.chunks[i/reqChunkLen]
	return c, &c.ents[i%reqChunkLen]
}

func (t *requestTable) keyAt(seq uint64) []byte {
	c, e := t.chunkOf(seq)
	return e.key(c.arena)
}

// lookup returns key's entry number, false if the key is not remembered.
func (t *requestTable) lookup(key string) (uint64, bool) { return t.index.get(key, t.holds) }

// holds says whether entry seq is key's.
func (t *requestTable) holds(seq uint64, key string) bool { return string(t.keyAt(seq)) == key }

// typeOf and result read entry seq.
func (t *requestTable) typeOf(seq uint64) CommandType {
	_, e := t.chunkOf(seq)
	return commandTypes[e.typ]
}

func (t *requestTable) result(seq uint64) Result {
	c, e := t.chunkOf(seq)
	return unpackResult(e.res(c.arena))
}

// expire drops entries older than window before at, and the oldest beyond
// limit.
func (t *requestTable) expire(at time.Time, window time.Duration, limit int) {
	now := at.UnixNano()
	for t.head < t.next {
		_, e := t.chunkOf(t.head)
		if t.len() <= limit && now-e.at <= int64(window) {
			break
		}
		t.index.remove(string(t.keyAt(t.head)), t.head)
		t.head++
		if t.head-t.base == reqChunkLen {
			t.chunks[0] = reqChunk{}
			t.chunks = t.chunks[1:]
			t.base += reqChunkLen
		}
	}
}

// add remembers a successful keyed command's result. The key must not be
// remembered already (applyKeyed looks it up first; restore checks), and
// typ must be a command type.
func (t *requestTable) add(key string, typ CommandType, at time.Time, r *Result) {
	code, ok := typeCode(typ)
	if !ok {
		// Only a dispatched command succeeds, and dispatch refuses an
		// unknown type; restore checks the same before it adds.
		panic("metadata: remembering a request of unknown type " + string(typ))
	}
	if t.next-t.base == uint64(len(t.chunks))*reqChunkLen {
		// Sized for typical keys and results (a uuid and two intent
		// ids): most chunks never grow their arena.
		t.chunks = append(t.chunks, reqChunk{arena: make([]byte, 0, 96*reqChunkLen), ents: make([]remembered, reqChunkLen)})
	}
	c, e := t.chunkOf(t.next)
	off := len(c.arena)
	c.arena = append(c.arena, key...)
	c.arena = appendResult(c.arena, r)
	*e = remembered{at: at.UnixNano(), off: uint32(off), klen: uint8(len(key)),
		rlen: uint32(len(c.arena) - off - len(key)), typ: code}
	t.index.add(key, t.next)
	t.next++
}

// reqSpan is a run of live entries with the arena their bytes are in.
type reqSpan struct {
	arena []byte
	ents  []remembered
}

// live returns the live entries, oldest first, as spans that stay valid
// past the FSM's lock (see requestTable). It copies nothing but the spans.
func (t *requestTable) live() []reqSpan {
	var out []reqSpan
	for seq := t.head; seq < t.next; {
		i := seq - t.base
		c := &t.chunks[i/reqChunkLen]
		lo := i % reqChunkLen
		hi := min(uint64(reqChunkLen), lo+(t.next-seq))
		out = append(out, reqSpan{arena: c.arena, ents: c.ents[lo:hi]})
		seq += hi - lo
	}
	return out
}

// entry is the span's i'th entry in the form snapshots write.
func (s reqSpan) entry(i int) requestEntry {
	e := &s.ents[i]
	return requestEntry{Key: string(e.key(s.arena)), Type: commandTypes[e.typ], At: time.Unix(0, e.at).UTC(),
		Result: unpackResult(e.res(s.arena))}
}
