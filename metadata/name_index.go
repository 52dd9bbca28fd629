package metadata

// nameIndex maps a VG's names, which its pools and volumes share, to what
// holds them. Pools are few and keyed by name. Volumes are many (100,000
// at the bench's largest level), so their names are indexed by hash to
// their slot in the volume table (hashIndex: no pointer per volume for the
// garbage collector to follow).
//
// Changed only by the FSM's apply goroutine, under the write lock.
type nameIndex struct {
	pools map[string]string // name -> pool uuid
	vols  hashIndex[int32]
	// named says whether the volume in slot h is named name.
	named func(h int32, name string) bool
}

// newNameIndex makes an index whose volume names are read back with
// volName, the name of the volume in a slot.
func newNameIndex(volName func(int32) string) nameIndex {
	return nameIndex{pools: map[string]string{}, vols: newHashIndex[int32](),
		named: func(h int32, name string) bool { return volName(h) == name }}
}

// len is how many names are taken.
func (x *nameIndex) len() int { return len(x.pools) + x.vols.len() }

// taken says whether a pool or a volume has name.
func (x *nameIndex) taken(name string) bool {
	if _, ok := x.pools[name]; ok {
		return true
	}
	_, ok := x.volume(name)
	return ok
}

// volume returns the slot of the volume named name.
func (x *nameIndex) volume(name string) (int32, bool) { return x.vols.get(name, x.named) }

// addVolume records that the volume in slot h is named name (not taken);
// removeVolume forgets it.
func (x *nameIndex) addVolume(name string, h int32)    { x.vols.add(name, h) }
func (x *nameIndex) removeVolume(name string, h int32) { x.vols.remove(name, h) }
