package emu

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// store is a pool's metadata file: two alternating superblocks, a
// checkpoint record, a chain of journal records after it, and optionally a
// held root (the metadata snapshot: a checkpoint and journal records kept
// allocated, held.go). Commit appends one journal
// record at the block the previous record announced, so a commit costs one
// write and one fdatasync and never rewrites a superblock; compaction writes
// a fresh checkpoint and flips the superblock. See docs/engine.md.
type store struct {
	f       *os.File
	nblocks uint64
	used    []uint64 // block bitmap of everything the durable state references

	sb        superblock
	ckptBlks  []uint64
	jBlks     []uint64 // blocks of this epoch's journal records (+ the announced next head)
	jNext     uint64   // head block the next journal record goes to
	jSeq      uint64
	heldBlks  []uint64 // the held root's checkpoint and journal records (held.go)
	ckptBytes int
	// bg is the checkpoint being encoded off the commit path, nil if none
	// (bgckpt.go).
	bg *bgCheckpoint
	// enc captures and encodes every checkpoint of this store, reusing its
	// memory; a background checkpoint owns it until it is done.
	enc ckptEncoder
	// hdr is the head block of the record being written (writeRecord).
	hdr []byte
	// failAt, set by tests, makes a commit stop at a named step.
	failAt func(step string) error
}

// errStoreFull: the metadata file has no room for a record.
var errStoreFull = errors.New("metadata file has no free blocks for the commit")

func fileBlocks(f *os.File) (uint64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return uint64(st.Size()) / blockSize, nil
}

func (s *store) isUsed(b uint64) bool { return s.used[b>>6]&(1<<(b&63)) != 0 }
func (s *store) mark(b uint64)        { s.used[b>>6] |= 1 << (b & 63) }
func (s *store) unmark(b uint64)      { s.used[b>>6] &^= 1 << (b & 63) }

func (s *store) setSize(n uint64) {
	u := make([]uint64, (n+63)/64)
	copy(u, s.used)
	s.used = u
	s.nblocks = n
}

func (s *store) freeBlocks() uint64 { return s.nblocks - popcount(s.used) }

// allocRun finds up to want free blocks, preferring one contiguous run.
func (s *store) alloc(want int) ([]extent, []uint64, error) {
	var exts []extent
	var blks []uint64
	left := want
	for b := uint64(2); b < s.nblocks && left > 0; b++ {
		// Skip whole words of used blocks: the checkpoint and a journal of
		// up to journalFloor blocks sit at the start of the file, and a
		// commit allocates at least once. (Bits past nblocks are never set,
		// so a partial last word is never full.)
		if b&63 == 0 && s.used[b>>6] == ^uint64(0) {
			b += 63
			continue
		}
		if s.isUsed(b) {
			continue
		}
		start := b
		for b < s.nblocks && !s.isUsed(b) && int(b-start) < left {
			b++
		}
		n := int(b - start)
		exts = append(exts, extent{start, uint32(n)})
		for i := start; i < b; i++ {
			blks = append(blks, i)
		}
		left -= n
	}
	if left > 0 || len(exts) > maxExtents {
		return nil, nil, errStoreFull
	}
	for _, x := range blks {
		s.mark(x)
	}
	return exts, blks, nil
}

func (s *store) release(blks []uint64) {
	for _, b := range blks {
		s.unmark(b)
	}
}

// writeRecord writes a record whose head goes to block head and whose
// remaining payload goes to newly allocated extents; it returns all blocks
// used (head first). Nothing is synced.
func (s *store) writeRecord(head uint64, h recHeader, payload []byte) ([]uint64, error) {
	restLen := len(payload) - inlineCap
	var blks []uint64
	if restLen > 0 {
		exts, b, err := s.alloc((restLen + blockSize - 1) / blockSize)
		if err != nil {
			return nil, err
		}
		h.extents, blks = exts, b
	}
	if s.hdr == nil {
		s.hdr = make([]byte, blockSize)
	}
	hb := s.hdr
	rest, err := encodeRecord(hb, h, payload)
	if err != nil {
		s.release(blks)
		return nil, err
	}
	for _, e := range h.extents {
		n := int(e.count) * blockSize
		buf := rest
		if len(buf) > n {
			buf = buf[:n]
		}
		rest = rest[len(buf):]
		if _, err := s.f.WriteAt(buf, int64(e.start)*blockSize); err != nil {
			s.release(blks)
			return nil, err
		}
	}
	if _, err := s.f.WriteAt(hb, int64(head)*blockSize); err != nil {
		s.release(blks)
		return nil, err
	}
	return append([]uint64{head}, blks...), nil
}

// readRecord reads and verifies the record at head; ok is false if it is
// not a complete record of the wanted kind, epoch and sequence. hb, if not
// nil, is a block-sized buffer for the header block, reused by a caller
// that reads a chain of records (a journal replay reads thousands).
func (s *store) readRecord(head uint64, magic uint32, epoch, seq uint64, hb []byte) (payload []byte, blks []uint64, next uint64, ok bool, err error) {
	if head < 2 || head >= s.nblocks {
		return nil, nil, 0, false, nil
	}
	if hb == nil {
		hb = make([]byte, blockSize)
	}
	if _, err := s.f.ReadAt(hb, int64(head)*blockSize); err != nil {
		return nil, nil, 0, false, err
	}
	h, good := decodeHeader(hb)
	if !good || h.magic != magic || h.epoch != epoch || h.seq != seq || h.length > uint64(s.nblocks)*blockSize {
		return nil, nil, 0, false, nil
	}
	payload = make([]byte, h.length)
	n := copy(payload, hb[inlineStart:])
	blks = []uint64{head}
	for _, e := range h.extents {
		if e.start < 2 || e.start+uint64(e.count) > s.nblocks {
			return nil, nil, 0, false, nil
		}
		for i := uint64(0); i < uint64(e.count); i++ {
			blks = append(blks, e.start+i)
		}
		want := int(e.count) * blockSize
		if rem := len(payload) - n; want > rem {
			want = rem
		}
		if want <= 0 {
			continue
		}
		if _, err := s.f.ReadAt(payload[n:n+want], int64(e.start)*blockSize); err != nil {
			return nil, nil, 0, false, err
		}
		n += want
	}
	if n != len(payload) || crc(payload) != h.pcrc {
		return nil, nil, 0, false, nil
	}
	return payload, blks, h.next, true, nil
}

func (s *store) writeSuperblock(sb superblock) error {
	sb.gen = s.sb.gen + 1
	sb.loc = sb.gen & 1
	if _, err := s.f.WriteAt(sb.encode(), int64(sb.loc)*blockSize); err != nil {
		return err
	}
	if err := unix.Fdatasync(int(s.f.Fd())); err != nil {
		return err
	}
	s.sb = sb
	return nil
}

func newEpoch() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// checkpoint writes the full state m as a new checkpoint with a fresh
// journal epoch and flips the superblock to it. held, when true, also
// makes it the held checkpoint. The old checkpoint and journal blocks are
// freed once the new superblock is durable (unless still held).
func (s *store) checkpoint(m *meta, hold bool) error {
	s.dropBackground()
	s.enc.capture(m)
	payload := s.enc.encode()
	_, headB, err := s.alloc(1)
	if err != nil {
		return err
	}
	_, nextB, err := s.alloc(1)
	if err != nil {
		s.release(headB)
		return err
	}
	epoch := newEpoch()
	blks, err := s.writeRecord(headB[0], recHeader{magic: recMagicC, epoch: epoch, next: nextB[0]}, payload)
	if err != nil {
		s.release(headB)
		s.release(nextB)
		return err
	}
	if err := unix.Fdatasync(int(s.f.Fd())); err != nil {
		s.release(blks)
		s.release(nextB)
		return err
	}
	sb := s.sb
	sb.ckpt, sb.epoch, sb.jhead, sb.jseq = headB[0], epoch, nextB[0], 1
	sb.needsCheck = m.needsCheck
	sb.dataBlockSectors = m.dataBlockSectors
	if hold {
		sb.held, sb.hepoch, sb.hjhead, sb.hjseq, sb.hjend = headB[0], 0, 0, 0, 0
	}
	if err := s.writeSuperblock(sb); err != nil {
		s.release(blks)
		s.release(nextB)
		return err
	}
	// The old checkpoint and journal stay allocated as far as the held root
	// uses them.
	s.release(s.ckptBlks)
	s.release(s.jBlks)
	if hold {
		s.heldBlks = blks
	}
	s.markHeld()
	s.ckptBlks, s.jBlks, s.jNext, s.jSeq, s.ckptBytes = blks, []uint64{nextB[0]}, nextB[0], 1, len(payload)
	return nil
}

// appendJournal writes the pending operations of m as the next journal
// record and makes it durable.
func (s *store) appendJournal(m *meta) error {
	_, nextB, err := s.alloc(1)
	if err != nil {
		return err
	}
	blks, err := s.writeRecord(s.jNext, recHeader{magic: recMagicJ, epoch: s.sb.epoch, seq: s.jSeq, next: nextB[0]}, m.jr)
	if err != nil {
		s.release(nextB)
		return err
	}
	if err := unix.Fdatasync(int(s.f.Fd())); err != nil {
		s.release(blks[1:])
		s.release(nextB)
		return err
	}
	s.jBlks = append(s.jBlks, blks[1:]...)
	s.jBlks = append(s.jBlks, nextB[0])
	s.jNext = nextB[0]
	s.jSeq++
	return nil
}

// journalFloor is the journal length, in blocks, that compaction waits for
// however small the checkpoint is (unless the file is too small for it, see
// compactAt). A journal record takes at least a block, so a rule of "twice
// the checkpoint" alone compacts a pool of 33,000 empty devices (a
// checkpoint of ~100 blocks) every ~200 commits: a full capture and encode,
// a cost in proportion to the devices, about every second of the cluster
// bench. Behind the floor a compaction comes at most every ~4,000 commits,
// and replay at open reads at most that many records (docs/engine.md,
// "Checkpoint cost").
const journalFloor = 4096

// compactAt is the journal length, in blocks, at which a commit starts a
// background checkpoint: twice the checkpoint (replay then costs no more
// than reading the checkpoint twice) or the floor, whichever is larger, but
// the floor only as far as half the room the file has for a journal next to
// the current checkpoint, the new one and a held one, so that a small
// metadata device compacts well before it fills (the foreground fallback in
// commit is for records that outgrow even that).
func (s *store) compactAt(ckptBlocks uint64) uint64 {
	used := 2 + 2*ckptBlocks
	if len(s.heldBlks) > 0 && (len(s.ckptBlks) == 0 || s.heldBlks[0] != s.ckptBlks[0]) {
		used += uint64(len(s.heldBlks))
	}
	var room uint64
	if s.nblocks > used {
		room = (s.nblocks - used) / 2
	}
	return max(2*ckptBlocks+64, min(journalFloor, room))
}

// commit makes m's pending changes durable: a journal record. When the
// journal has grown past compactAt, which bounds replay time and metadata
// file usage, a new checkpoint of the state is encoded in the background
// and installed by a later commit (bgckpt.go); when space is short or
// needs_check changes, the commit writes one itself.
func (s *store) commit(m *meta) error {
	if len(m.jr) == 0 && m.needsCheck == s.sb.needsCheck {
		return nil
	}
	ckptBlocks := uint64(s.ckptBytes/blockSize + 1)
	jblocks := uint64(len(s.jBlks))
	recBlocks := uint64(len(m.jr)/blockSize + 2)
	if m.needsCheck != s.sb.needsCheck || s.freeBlocks() < recBlocks+ckptBlocks+8 {
		if err := s.checkpoint(m, false); err == nil || !errors.Is(err, errStoreFull) {
			return err
		}
	}
	if s.backgroundReady() {
		return s.installBackground(m)
	}
	if err := s.appendJournal(m); err != nil {
		return err
	}
	if s.bg == nil && jblocks+recBlocks > s.compactAt(ckptBlocks) {
		s.startBackground(m)
	}
	return nil
}

// setNeedsCheck persists the needs_check flag without touching anything
// else (the in-memory state has been rolled back by the caller).
func (s *store) setNeedsCheck() error {
	sb := s.sb
	sb.needsCheck = true
	return s.writeSuperblock(sb)
}

func (s *store) close() error {
	s.dropBackground()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// formatStore writes an empty pool's metadata into f.
func formatStore(f *os.File, m *meta) (*store, error) {
	n, err := fileBlocks(f)
	if err != nil {
		return nil, err
	}
	if n < 8 {
		return nil, fmt.Errorf("metadata device too small: %d blocks", n)
	}
	s := &store{f: f}
	s.setSize(n)
	s.mark(0)
	s.mark(1)
	// Generation 0 is written to both slots' predecessors: the first real
	// superblock is generation 1 (slot 1), then slot 0 is invalidated by
	// writing generation 2 there on the next flip.
	zero := make([]byte, blockSize)
	if _, err := f.WriteAt(zero, blockSize); err != nil {
		return nil, err
	}
	if err := s.checkpoint(m, false); err != nil {
		return nil, err
	}
	// Slot 0 must hold a valid superblock too, so that a zeroed block 0
	// always means "unformatted": write the same state there.
	if err := s.checkpoint(m, false); err != nil {
		return nil, err
	}
	return s, nil
}

// openStore reads the metadata file: the newest valid superblock, its
// checkpoint and the journal chain (or, with held, only the held root: its
// checkpoint and journal records, held.go). The file is opened read-write
// unless readOnly.
func openStore(path string, readOnly, held bool) (*store, *meta, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, nil, err
	}
	s, m, err := loadStore(f, held)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return s, m, nil
}

// errUnformatted: block 0 is all zeroes.
var errUnformatted = errors.New("metadata is not formatted")

func loadStore(f *os.File, held bool) (*store, *meta, error) {
	n, err := fileBlocks(f)
	if err != nil {
		return nil, nil, err
	}
	if n < 2 {
		return nil, nil, errBadSuperblock
	}
	s := &store{f: f}
	s.setSize(n)
	var sbs [2]superblock
	var valid [2]bool
	for i := range sbs {
		b := make([]byte, blockSize)
		if _, err := f.ReadAt(b, int64(i)*blockSize); err != nil {
			return nil, nil, err
		}
		if i == 0 && allZero(b) {
			return nil, nil, errUnformatted
		}
		// A slot of a newer format refuses the file: falling back to the
		// other, older slot would open a stale state whose blocks the
		// newer engine may have reused.
		if ver, newer := newerVersion(b); newer {
			return nil, nil, fmt.Errorf("%w: metadata format version %d is newer than this engine reads (%d); open it with the thinraft that wrote it",
				errBadSuperblock, ver, formatVer)
		}
		sbs[i], valid[i] = decodeSuperblock(b, uint64(i))
	}
	switch {
	case valid[0] && valid[1]:
		s.sb = sbs[0]
		if sbs[1].gen > sbs[0].gen {
			s.sb = sbs[1]
		}
	case valid[0]:
		s.sb = sbs[0]
	case valid[1]:
		s.sb = sbs[1]
	default:
		return nil, nil, errBadSuperblock
	}
	s.mark(0)
	s.mark(1)
	if held {
		if s.sb.held == 0 {
			return nil, nil, errNoHeld
		}
		hm, _, err := s.readHeld()
		if err != nil {
			return nil, nil, err
		}
		return s, hm, nil
	}
	m, err := s.loadCheckpoint(s.sb.ckpt)
	if err != nil {
		return nil, nil, err
	}
	// Replay the journal chain.
	head := s.sb.jhead
	s.jBlks = []uint64{head}
	s.mark(head)
	hb := make([]byte, blockSize)
	for seq := s.sb.jseq; ; seq++ {
		p, blks, next, ok, err := s.readRecord(head, recMagicJ, s.sb.epoch, seq, hb)
		if err != nil {
			return nil, nil, err
		}
		if !ok || next < 2 || next >= s.nblocks || s.isUsed(next) {
			s.jNext, s.jSeq = head, seq
			break
		}
		if err := m.apply(p); err != nil {
			return nil, nil, fmt.Errorf("journal record %d: %w", seq, err)
		}
		for _, b := range blks[1:] {
			s.mark(b)
		}
		s.mark(next)
		s.jBlks = append(s.jBlks, blks[1:]...)
		s.jBlks = append(s.jBlks, next)
		head = next
	}
	// The held root's blocks are marked after the replay: its records may
	// be the first records of the live chain, which the replay's "already
	// used" stop would otherwise cut short.
	if s.sb.held != 0 {
		hm, hb, err := s.readHeld()
		if err != nil {
			return nil, nil, err
		}
		s.heldBlks = hb
		s.markHeld()
		m.adoptHeld(hm)
	}
	m.needsCheck = s.sb.needsCheck
	m.heldRoot = s.sb.held
	m.committed()
	m.startLogging()
	return s, m, nil
}

var errNoHeld = errors.New("no held metadata root")

// readRecordAny reads a checkpoint record whatever its epoch.
func (s *store) readRecordAny(head uint64) ([]byte, []uint64, uint64, bool, error) {
	hb := make([]byte, blockSize)
	if head < 2 || head >= s.nblocks {
		return nil, nil, 0, false, nil
	}
	if _, err := s.f.ReadAt(hb, int64(head)*blockSize); err != nil {
		return nil, nil, 0, false, err
	}
	h, ok := decodeHeader(hb)
	if !ok {
		return nil, nil, 0, false, nil
	}
	return s.readRecord(head, recMagicC, h.epoch, 0, nil)
}

// loadCheckpoint reads the current checkpoint at head (the held root has
// readHeld).
func (s *store) loadCheckpoint(head uint64) (*meta, error) {
	p, blks, _, ok, err := s.readRecordAny(head)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("checkpoint at block %d: %w", head, errCorrupt)
	}
	m, err := decodeState(p, s.sb.dataBlockSectors)
	if err != nil {
		return nil, fmt.Errorf("checkpoint at block %d: %w: %v", head, errCorrupt, err)
	}
	for _, b := range blks {
		s.mark(b)
	}
	s.ckptBlks, s.ckptBytes = blks, len(p)
	m.needsCheck = s.sb.needsCheck
	m.heldRoot = s.sb.held
	return m, nil
}

// errCorrupt: a record the superblock references fails its checks.
var errCorrupt = errors.New("metadata corrupt")
