package metadata

// volumeTable holds the record's volumes by value in fixed chunks, indexed
// by uuid. It exists for the garbage collector: every cycle marks the
// whole record, and 100,000 separately allocated Volumes behind a
// map[string]*Volume cost a node's collector about 40% more than the same
// volumes in chunks of volChunk behind a pointer-free index (measured with
// BenchmarkHeapMark100k; docs/metadata.md, "Memory and the garbage
// collector").
//
// A *Volume from get stays valid while the volume lives: chunks never
// move. Once remove returns, its slot may hold the next volume added, so a
// caller must not keep the pointer past the removal. Only the FSM's apply
// goroutine calls add and remove, under the write lock.
type volumeTable struct {
	byUUID map[uuidKey]int32
	chunks [][]Volume
	// free are slots of removed volumes, zeroed, reused first.
	free []int32
}

const volChunk = 1024

func newVolumeTable() volumeTable {
	return volumeTable{byUUID: map[uuidKey]int32{}}
}

func (t *volumeTable) len() int { return len(t.byUUID) }

func (t *volumeTable) slot(h int32) *Volume { return &t.chunks[h/volChunk][h%volChunk] }

// get returns the volume with uuid, nil if there is none.
func (t *volumeTable) get(uuid string) *Volume {
	if len(uuid) != len(uuidKey{}) {
		return nil
	}
	return t.getKey(keyOf(uuid))
}

func (t *volumeTable) getKey(k uuidKey) *Volume {
	h, ok := t.byUUID[k]
	if !ok {
		return nil
	}
	return t.slot(h)
}

// add stores a copy of v under k, its uuid's key (not in the table yet),
// and returns the stored volume, the one to change from then on, and its
// slot (for indexes that want to reach it without a lookup by uuid).
func (t *volumeTable) add(k uuidKey, v *Volume) (int32, *Volume) {
	var h int32
	if n := len(t.free); n > 0 {
		h, t.free = t.free[n-1], t.free[:n-1]
	} else {
		last := len(t.chunks) - 1
		if last < 0 || len(t.chunks[last]) == volChunk {
			t.chunks = append(t.chunks, make([]Volume, 0, volChunk))
			last++
		}
		h = int32(last*volChunk + len(t.chunks[last]))
		t.chunks[last] = t.chunks[last][:len(t.chunks[last])+1]
	}
	p := t.slot(h)
	*p = *v
	t.byUUID[k] = h
	return h, p
}

// remove drops the volume with key k; its slot is cleared, so that what
// it referenced can be collected.
func (t *volumeTable) remove(k uuidKey) {
	h, ok := t.byUUID[k]
	if !ok {
		return
	}
	delete(t.byUUID, k)
	*t.slot(h) = Volume{}
	t.free = append(t.free, h)
}

// each calls fn for every volume, in no particular order.
func (t *volumeTable) each(fn func(*Volume)) {
	for _, h := range t.byUUID {
		fn(t.slot(h))
	}
}
