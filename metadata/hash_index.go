package metadata

import "hash/maphash"

// hashIndex maps string keys to values of V (an entry number, a slot)
// through a map keyed by a 64-bit hash of the key: a map without pointers,
// which the garbage collector does not scan, where a map keyed by the
// strings is a pointer per entry to follow on every cycle (docs/metadata.md,
// "Memory and the garbage collector"). The keys themselves live where the
// values point (an arena, a volume's name); get's matches reads them back.
//
// A key whose hash another live key holds goes to collide, a small map
// keyed by the string. A lookup always compares the key itself, so a
// collision costs a second map, never a wrong answer. The hash has a seed
// of the index's own: the index is in memory only, so replicas need not
// agree on it.
//
// Not safe for concurrent use; its owner (the FSM's state) serialises.
type hashIndex[V comparable] struct {
	byHash  map[uint64]V
	collide map[string]V
	hash    func(string) uint64
}

func newHashIndex[V comparable]() hashIndex[V] {
	seed := maphash.MakeSeed()
	return hashIndex[V]{byHash: map[uint64]V{}, collide: map[string]V{},
		hash: func(k string) uint64 { return maphash.String(seed, k) }}
}

func (x *hashIndex[V]) len() int { return len(x.byHash) + len(x.collide) }

// get returns the value held under key; matches says whether v is held
// under key (reads the key back from where v points).
func (x *hashIndex[V]) get(key string, matches func(v V, key string) bool) (V, bool) {
	if v, ok := x.byHash[x.hash(key)]; ok && matches(v, key) {
		return v, true
	}
	v, ok := x.collide[key]
	return v, ok
}

// add holds v under key, which must not be held already.
func (x *hashIndex[V]) add(key string, v V) {
	h := x.hash(key)
	if _, held := x.byHash[h]; held {
		x.collide[key] = v
		return
	}
	x.byHash[h] = v
}

// remove drops key, held with v.
func (x *hashIndex[V]) remove(key string, v V) {
	h := x.hash(key)
	if got, ok := x.byHash[h]; ok && got == v {
		delete(x.byHash, h)
		return
	}
	delete(x.collide, key)
}
