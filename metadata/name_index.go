package metadata

import "hash/maphash"

// nameIndex maps a VG's names, which its pools and volumes share, to what
// holds them. Pools are few and keyed by name. Volumes are many (100,000
// at the bench's largest level), so they are indexed by a hash of the name
// to their slot in the volume table: a map without pointers, which the
// garbage collector does not scan, where a map keyed by the name strings
// was a pointer per volume to follow on every cycle (docs/metadata.md,
// "Memory and the garbage collector"). A name whose hash another volume
// holds goes to collide; a lookup compares the name itself, so a collision
// costs a second map, never a wrong answer.
//
// Changed only by the FSM's apply goroutine, under the write lock.
type nameIndex struct {
	pools   map[string]string // name -> pool uuid
	byHash  map[uint64]int32  // hash of a volume name -> slot
	collide map[string]int32
	// hash is maphash with a seed of the index's own: it is in memory
	// only, so replicas need not agree on it.
	hash func(string) uint64
	// volName is the name of the volume in a slot.
	volName func(int32) string
}

func newNameIndex(volName func(int32) string) nameIndex {
	seed := maphash.MakeSeed()
	return nameIndex{pools: map[string]string{}, byHash: map[uint64]int32{}, collide: map[string]int32{},
		hash: func(k string) uint64 { return maphash.String(seed, k) }, volName: volName}
}

// len is how many names are taken.
func (x *nameIndex) len() int { return len(x.pools) + len(x.byHash) + len(x.collide) }

// taken says whether a pool or a volume has name.
func (x *nameIndex) taken(name string) bool {
	if _, ok := x.pools[name]; ok {
		return true
	}
	_, ok := x.volume(name)
	return ok
}

// volume returns the slot of the volume named name.
func (x *nameIndex) volume(name string) (int32, bool) {
	if h, ok := x.byHash[x.hash(name)]; ok && x.volName(h) == name {
		return h, true
	}
	h, ok := x.collide[name]
	return h, ok
}

// addVolume records that the volume in slot h is named name (not taken).
func (x *nameIndex) addVolume(name string, h int32) {
	k := x.hash(name)
	if _, held := x.byHash[k]; held {
		x.collide[name] = h
		return
	}
	x.byHash[k] = h
}

// removeVolume forgets name, the name of the volume in slot h.
func (x *nameIndex) removeVolume(name string, h int32) {
	k := x.hash(name)
	if got, ok := x.byHash[k]; ok && got == h {
		delete(x.byHash, k)
		return
	}
	delete(x.collide, name)
}
