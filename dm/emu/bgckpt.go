package emu

import "errors"

// Background checkpoints. A checkpoint is the whole state, so writing one
// on the commit path would stall that commit in proportion to the pool's
// device count. Instead the commit that finds the journal long enough
// captures the device table (ckptEncoder.capture), freezes the chunks it shares
// with the live state and lets a goroutine encode the payload, while later
// commits keep appending to the same journal. The first commit after the
// encoding is done installs it:
//
//  1. the checkpoint record goes to free blocks (a crash now leaves
//     unreferenced blocks: the old superblock still names the old state);
//  2. the commit's own journal record is written and one fdatasync makes
//     both durable;
//  3. the other superblock slot is written and synced, naming the new
//     checkpoint and, as the journal's head, the record that followed the
//     captured commit with its sequence number (the epoch stays: the
//     records after the capture are already on disk in that epoch);
//  4. only then are the old checkpoint and the journal records up to the
//     captured commit free.
//
// Before step 3 a reopen replays the old checkpoint and the whole chain;
// after it the new checkpoint and the chain's tail: the same state. Sequence
// numbers never repeat within an epoch, so a freed record found again at an
// announced head cannot verify.

// bgCheckpoint is a checkpoint being encoded off the commit path.
type bgCheckpoint struct {
	m    *meta // its chunks of older generations are frozen until install
	done chan struct{}
	// payload is written by the goroutine before done is closed; it is the
	// store's encoder buffer, valid until the next capture.
	payload []byte
	// cut is len(store.jBlks) at the capture: jBlks[:cut-1] are the blocks
	// of the records the checkpoint contains, jBlks[cut-1] is jhead, where
	// the record with sequence number jseq goes.
	cut   int
	jhead uint64
	jseq  uint64
}

// startBackground captures m (just made durable by a journal record) and
// starts encoding it.
func (s *store) startBackground(m *meta) {
	enc := &s.enc
	enc.capture(m)
	m.chunkGen++
	m.frozen = true
	bg := &bgCheckpoint{m: m, done: make(chan struct{}), cut: len(s.jBlks), jhead: s.jNext, jseq: s.jSeq}
	go func() {
		bg.payload = enc.encode()
		close(bg.done)
	}()
	s.bg = bg
}

func (s *store) backgroundReady() bool {
	if s.bg == nil {
		return false
	}
	select {
	case <-s.bg.done:
		return true
	default:
		return false
	}
}

// dropBackground abandons the background checkpoint; it waits for the
// encoder, which reads the frozen chunks, before unfreezing them.
func (s *store) dropBackground() {
	if s.bg == nil {
		return
	}
	<-s.bg.done
	s.bg.m.frozen = false
	s.bg = nil
}

// installBackground commits m's pending changes together with the encoded
// checkpoint (steps 1-4 above).
func (s *store) installBackground(m *meta) error {
	bg := s.bg
	s.bg = nil
	bg.m.frozen = false
	_, headB, err := s.alloc(1)
	if err != nil {
		return s.appendJournal(m)
	}
	blks, err := s.writeRecord(headB[0], recHeader{magic: recMagicC, epoch: newEpoch(), next: bg.jhead}, bg.payload)
	if err != nil {
		s.release(headB)
		if errors.Is(err, errStoreFull) {
			// The space check before this falls back to a foreground
			// checkpoint when it gets short; until then, journal on.
			return s.appendJournal(m)
		}
		return err
	}
	if err := s.failpoint("bg-checkpoint-written"); err != nil {
		return err
	}
	if err := s.appendJournal(m); err != nil {
		s.release(blks)
		return err
	}
	if err := s.failpoint("bg-journal-synced"); err != nil {
		return err
	}
	sb := s.sb
	sb.ckpt, sb.jhead, sb.jseq = headB[0], bg.jhead, bg.jseq
	if err := s.writeSuperblock(sb); err != nil {
		// The slot may or may not have been written: keep every block
		// allocated; the caller aborts to what the file says.
		return err
	}
	if err := s.failpoint("bg-superblock-synced"); err != nil {
		return err
	}
	s.release(s.ckptBlks)
	s.release(s.jBlks[:bg.cut-1])
	s.markHeld()
	s.jBlks = append([]uint64(nil), s.jBlks[bg.cut-1:]...)
	s.ckptBlks, s.ckptBytes = blks, len(bg.payload)
	return nil
}

// failpoint lets tests stop a commit between two of its durable steps, as a
// crash would; nil in production.
func (s *store) failpoint(name string) error {
	if s.failAt == nil {
		return nil
	}
	return s.failAt(name)
}
