package metadata

import (
	"slices"
	"sort"
	"strings"
)

// nameChunk bounds the work of one insert or delete: names live in sorted
// chunks of at most this many, so an insert moves at most a chunk's worth
// of strings plus, on a split, the chunk directory (n/256 pointers): flat in
// practice at 100,000 names, where a single sorted slice would move ~1.6 MB
// per insert.
const nameChunk = 512

// nameSet is an ordered set of names (one VG's volume names), for listing
// with a cursor without sorting the VG on every page.
type nameSet struct {
	chunks [][]string
	n      int
}

// chunkFor is the index of the first chunk whose last name is >= name, or
// the last chunk when name sorts after everything.
func (s *nameSet) chunkFor(name string) int {
	i := sort.Search(len(s.chunks), func(i int) bool {
		c := s.chunks[i]
		return c[len(c)-1] >= name
	})
	if i == len(s.chunks) {
		i--
	}
	return i
}

func (s *nameSet) insert(name string) {
	if len(s.chunks) == 0 {
		s.chunks = [][]string{{name}}
		s.n = 1
		return
	}
	ci := s.chunkFor(name)
	c := s.chunks[ci]
	pos, found := slices.BinarySearch(c, name)
	if found {
		return
	}
	c = slices.Insert(c, pos, name)
	s.n++
	if len(c) <= nameChunk {
		s.chunks[ci] = c
		return
	}
	half := len(c) / 2
	right := slices.Clone(c[half:])
	clear(c[half:]) // drop references held past the new length
	s.chunks[ci] = c[:half]
	s.chunks = slices.Insert(s.chunks, ci+1, right)
}

func (s *nameSet) remove(name string) {
	if len(s.chunks) == 0 {
		return
	}
	ci := s.chunkFor(name)
	c := s.chunks[ci]
	pos, found := slices.BinarySearch(c, name)
	if !found {
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

// after returns up to limit names that sort after cursor ("" = from the
// start), in order.
func (s *nameSet) after(cursor string, limit int) []string {
	if len(s.chunks) == 0 || limit <= 0 {
		return nil
	}
	out := make([]string, 0, min(limit, s.n))
	ci := sort.Search(len(s.chunks), func(i int) bool {
		c := s.chunks[i]
		return c[len(c)-1] > cursor
	})
	for ; ci < len(s.chunks) && len(out) < limit; ci++ {
		c := s.chunks[ci]
		pos := sort.Search(len(c), func(j int) bool { return strings.Compare(c[j], cursor) > 0 })
		for ; pos < len(c) && len(out) < limit; pos++ {
			out = append(out, c[pos])
		}
	}
	return out
}

func (s *nameSet) len() int { return s.n }
