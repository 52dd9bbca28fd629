package metadata

// uuidKey is a uuid's 36 characters held by value, for the indexes that
// hold one entry per volume. A map whose keys and values hold no pointers
// is not scanned by the garbage collector at all, and the collector marks
// the whole record on every cycle: at 100,000 volumes a per-volume index
// keyed by string is 100,000 more pointers to follow each time
// (docs/metadata.md, "Memory and the garbage collector").
//
// Only uuids that passed validateUUID (36 bytes) become keys: the record's
// commands check them, and so does restore.
type uuidKey [36]byte

func keyOf(uuid string) uuidKey {
	var k uuidKey
	copy(k[:], uuid)
	return k
}

func (k *uuidKey) String() string { return string(k[:]) }
