package metadata

import (
	"slices"
	"sort"
)

// nameChunk bounds the work of one insert or delete: entries live in sorted
// chunks of at most this many, so an insert moves at most a chunk's worth
// plus, on a split, the chunk directory (n/256 entries): flat in practice
// at 100,000 names, where a single sorted slice would move ~400 KB per
// insert.
const nameChunk = 512

// nameSet is one VG's volumes ordered by name, for listing with a cursor
// without sorting the VG on every page. It holds the volumes' slots in the
// volume table, not their names: slots have no pointers, so the garbage
// collector does not scan the set (docs/metadata.md, "Memory and the
// garbage collector"). name reads a slot's name; a volume must be removed
// before its name changes and inserted after.
type nameSet struct {
	chunks [][]int32
	n      int
	name   func(int32) string
}

// chunkFor is the index of the first chunk whose last name is >= name, or
// the last chunk when name sorts after everything.
func (s *nameSet) chunkFor(name string) int {
	i := sort.Search(len(s.chunks), func(i int) bool {
		c := s.chunks[i]
		return s.name(c[len(c)-1]) >= name
	})
	if i == len(s.chunks) {
		i--
	}
	return i
}

// search is the position in c of the first entry whose name is >= name.
func (s *nameSet) search(c []int32, name string) int {
	return sort.Search(len(c), func(j int) bool { return s.name(c[j]) >= name })
}

// insert adds the volume in slot h; its name must not be in the set.
func (s *nameSet) insert(h int32) {
	if len(s.chunks) == 0 {
		s.chunks = [][]int32{{h}}
		s.n = 1
		return
	}
	name := s.name(h)
	ci := s.chunkFor(name)
	c := s.chunks[ci]
	c = slices.Insert(c, s.search(c, name), h)
	s.n++
	if len(c) <= nameChunk {
		s.chunks[ci] = c
		return
	}
	half := len(c) / 2
	right := slices.Clone(c[half:])
	s.chunks[ci] = c[:half]
	s.chunks = slices.Insert(s.chunks, ci+1, right)
}

// remove drops the volume in slot h, found by its name.
func (s *nameSet) remove(h int32) {
	if len(s.chunks) == 0 {
		return
	}
	name := s.name(h)
	ci := s.chunkFor(name)
	c := s.chunks[ci]
	pos := s.search(c, name)
	if pos == len(c) || c[pos] != h {
		return
	}
	c = slices.Delete(c, pos, pos+1)
	s.n--
	if len(c) == 0 {
		s.chunks = slices.Delete(s.chunks, ci, ci+1)
		return
	}
	s.chunks[ci] = c
}

// after returns the slots of up to limit volumes whose names sort after
// cursor ("" = from the start), in order.
func (s *nameSet) after(cursor string, limit int) []int32 {
	if len(s.chunks) == 0 || limit <= 0 {
		return nil
	}
	out := make([]int32, 0, min(limit, s.n))
	ci := sort.Search(len(s.chunks), func(i int) bool {
		c := s.chunks[i]
		return s.name(c[len(c)-1]) > cursor
	})
	for ; ci < len(s.chunks) && len(out) < limit; ci++ {
		c := s.chunks[ci]
		pos := sort.Search(len(c), func(j int) bool { return s.name(c[j]) > cursor })
		for ; pos < len(c) && len(out) < limit; pos++ {
			out = append(out, c[pos])
		}
	}
	return out
}

func (s *nameSet) len() int { return s.n }
