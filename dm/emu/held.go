package emu

import (
	"fmt"
	"slices"
)

// The held root (reserve_metadata_snap). The kernel's held root is a copy
// of the superblock that keeps the committed btrees allocated until it is
// released: reserving writes almost nothing. The engine's committed state
// is its checkpoint plus the journal records after it, so reserving names
// exactly those in the superblock (the held checkpoint, and the epoch, head
// block and sequence range of the records) and keeps their blocks
// allocated: one superblock write instead of encoding the whole state on
// the pool's message path (at 33,000 devices that encode was several
// milliseconds and megabytes, every 30 s per pool for the agent's usage
// report). Compactions and foreground checkpoints free what they replace
// and then mark the held blocks again (markHeld), so the held records stay
// intact whatever the live journal does; a reader of the held root decodes
// the checkpoint and replays the records (readHeld).
//
// When the journal is long against the free space, pinning it could starve
// a small metadata device of room for the next checkpoint, so reserving
// then writes a checkpoint of its own as before (store.checkpoint with
// hold; the superblock's record range is empty).

// hold makes the last commit the held root (reserve_metadata_snap, after
// its commit).
func (s *store) hold(m *meta) error {
	if uint64(len(s.jBlks)) <= s.freeBlocks()/4 {
		return s.holdCurrent()
	}
	return s.checkpoint(m, true)
}

// holdCurrent makes the last commit (the current checkpoint and the journal
// records after it) the held root with one superblock write.
func (s *store) holdCurrent() error {
	sb := s.sb
	sb.held, sb.hepoch, sb.hjhead, sb.hjseq, sb.hjend = sb.ckpt, sb.epoch, sb.jhead, sb.jseq, s.jSeq
	if err := s.failpoint("hold-superblock"); err != nil {
		return err
	}
	if err := s.writeSuperblock(sb); err != nil {
		return err
	}
	// jBlks ends with the announced head of the next record, not held.
	s.heldBlks = append(slices.Clone(s.ckptBlks), s.jBlks[:len(s.jBlks)-1]...)
	return nil
}

// markHeld marks the held root's blocks used again after a release of
// blocks the held root may share (the checkpoint or journal it names).
func (s *store) markHeld() {
	for _, b := range s.heldBlks {
		s.mark(b)
	}
}

// releaseHeld drops the held root: a superblock write, then its blocks are
// free except those the live checkpoint and journal still use.
func (s *store) releaseHeld() error {
	if s.sb.held == 0 {
		return nil
	}
	sb := s.sb
	sb.held, sb.hepoch, sb.hjhead, sb.hjseq, sb.hjend = 0, 0, 0, 0, 0
	if err := s.writeSuperblock(sb); err != nil {
		return err
	}
	s.release(s.heldBlks)
	s.heldBlks = nil
	for _, b := range s.ckptBlks {
		s.mark(b)
	}
	for _, b := range s.jBlks {
		s.mark(b)
	}
	return nil
}

// readHeld reads the held root: its checkpoint with the held journal
// records replayed, and every block of both.
func (s *store) readHeld() (*meta, []uint64, error) {
	hp, blks, _, ok, err := s.readRecordAny(s.sb.held)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("held checkpoint at block %d: %w", s.sb.held, errCorrupt)
	}
	hm, err := decodeState(hp, s.sb.dataBlockSectors)
	if err != nil {
		return nil, nil, fmt.Errorf("held checkpoint at block %d: %w: %v", s.sb.held, errCorrupt, err)
	}
	head := s.sb.hjhead
	hb := make([]byte, blockSize)
	for seq := s.sb.hjseq; seq < s.sb.hjend; seq++ {
		p, rb, next, ok, err := s.readRecord(head, recMagicJ, s.sb.hepoch, seq, hb)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, fmt.Errorf("held journal record %d at block %d: %w", seq, head, errCorrupt)
		}
		if err := hm.apply(p); err != nil {
			return nil, nil, fmt.Errorf("held journal record %d: %w: %v", seq, errCorrupt, err)
		}
		blks = append(blks, rb...)
		head = next
	}
	hm.needsCheck = s.sb.needsCheck
	hm.heldRoot = s.sb.held
	return hm, blks, nil
}
