package nbd

import (
	"sort"
	"sync"
)

// Extent is a run of the export with one base:allocation state.
type Extent struct {
	Length int64
	// Flags is StateHole|StateZero for an unmapped run, 0 for data (or
	// for anything the source is not sure about).
	Flags uint32
}

// Allocation answers BLOCK_STATUS for an export and learns from the IO the
// export itself performs. Implementations must be safe for concurrent use.
// Reporting data (flags 0) is always correct; reporting a hole is a promise
// that the range reads as zeros.
type Allocation interface {
	// Extents describes [off, off+length) as consecutive extents whose
	// lengths add up to exactly length.
	Extents(off, length int64) []Extent
	// Written is called before [off, off+length) is written.
	Written(off, length int64)
	// Discarded is called after a discard of [off, off+length) succeeded;
	// whole blocks inside it are unmapped now.
	Discarded(off, length int64)
}

// AllData is the Allocation that knows nothing: everything is data.
type AllData struct{}

// Extents reports the whole range as data.
func (AllData) Extents(_, length int64) []Extent { return []Extent{{Length: length}} }

// Written does nothing.
func (AllData) Written(_, _ int64) {}

// Discarded does nothing.
func (AllData) Discarded(_, _ int64) {}

// Span is a run of pool blocks [Begin, Begin+Length).
type Span struct {
	Begin  uint64
	Length uint64
}

// Tracker is the Allocation of a thin volume: the volume's mapped pool
// blocks as read from the pool's metadata when the export started, updated
// with the export's own writes (a write maps every block it touches) and
// discards (whole blocks inside a discard are unmapped, when the pool
// really unmaps them).
type Tracker struct {
	size          int64
	block         int64
	discardUnmaps bool

	mu     sync.RWMutex
	mapped []span // sorted, disjoint, non-adjacent, in blocks
}

type span struct{ start, end uint64 } // [start, end) in blocks

// NewTracker tracks a volume of size bytes made of blockSize-byte pool
// blocks, of which mapped are mapped now. discardUnmaps says whether a
// discard of whole blocks unmaps them (false for a pool that ignores
// discards: then only writes change the tracker).
func NewTracker(size, blockSize int64, mapped []Span, discardUnmaps bool) *Tracker {
	if blockSize <= 0 {
		blockSize = 1
	}
	t := &Tracker{size: size, block: blockSize, discardUnmaps: discardUnmaps}
	for _, m := range mapped {
		if m.Length > 0 {
			t.add(m.Begin, m.Begin+m.Length)
		}
	}
	return t
}

// Mapped returns the mapped block runs (for tests and diagnostics).
func (t *Tracker) Mapped() []Span {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Span, len(t.mapped))
	for i, s := range t.mapped {
		out[i] = Span{Begin: s.start, Length: s.end - s.start}
	}
	return out
}

// Written marks every block that [off, off+length) touches as mapped.
func (t *Tracker) Written(off, length int64) {
	if length <= 0 || off < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.add(uint64(off/t.block), uint64((off+length+t.block-1)/t.block))
}

// Discarded marks the whole blocks inside [off, off+length) unmapped. The
// last block of a volume whose size is not a multiple of the block size
// counts as whole when the discard reaches the end of the volume.
func (t *Tracker) Discarded(off, length int64) {
	if !t.discardUnmaps || length <= 0 || off < 0 {
		return
	}
	end := off + length
	first := uint64((off + t.block - 1) / t.block)
	last := uint64(end / t.block)
	t.mu.Lock()
	defer t.mu.Unlock()
	if end >= t.size {
		last = uint64((t.size + t.block - 1) / t.block)
	}
	if last <= first {
		return
	}
	t.remove(first, last)
}

// Resize tells the tracker the volume's new size (it was extended); the
// new tail is unmapped, as a grown thin device's is.
func (t *Tracker) Resize(size int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.size = size
}

// Extents reports [off, off+length) as alternating data and hole runs.
func (t *Tracker) Extents(off, length int64) []Extent {
	if length <= 0 {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []Extent
	emit := func(n int64, flags uint32) {
		if n <= 0 {
			return
		}
		if k := len(out); k > 0 && out[k-1].Flags == flags {
			out[k-1].Length += n
			return
		}
		out = append(out, Extent{Length: n, Flags: flags})
	}
	pos, end := off, off+length
	i := sort.Search(len(t.mapped), func(i int) bool { return int64(t.mapped[i].end)*t.block > pos })
	for pos < end {
		if i >= len(t.mapped) {
			emit(end-pos, StateHole|StateZero)
			break
		}
		ms, me := int64(t.mapped[i].start)*t.block, int64(t.mapped[i].end)*t.block
		if pos < ms {
			n := min(ms, end) - pos
			emit(n, StateHole|StateZero)
			pos += n
			continue
		}
		n := min(me, end) - pos
		emit(n, 0)
		pos += n
		i++
	}
	return out
}

// add inserts [s, e), merging overlapping and adjacent spans.
func (t *Tracker) add(s, e uint64) {
	// First span that ends at or after s (may touch s).
	i := sort.Search(len(t.mapped), func(i int) bool { return t.mapped[i].end >= s })
	j := i
	for j < len(t.mapped) && t.mapped[j].start <= e {
		s = min(s, t.mapped[j].start)
		e = max(e, t.mapped[j].end)
		j++
	}
	t.mapped = append(t.mapped[:i], append([]span{{s, e}}, t.mapped[j:]...)...)
}

// remove cuts [s, e) out of the set.
func (t *Tracker) remove(s, e uint64) {
	var out []span
	for _, m := range t.mapped {
		if m.end <= s || m.start >= e {
			out = append(out, m)
			continue
		}
		if m.start < s {
			out = append(out, span{m.start, s})
		}
		if m.end > e {
			out = append(out, span{e, m.end})
		}
	}
	t.mapped = out
}
