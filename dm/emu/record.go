package emu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// On-disk records. The metadata file is an array of 4 KiB blocks. Blocks 0
// and 1 are the two superblocks; every other block belongs to a record (a
// checkpoint or a journal commit record) or is free. A record starts at its
// head block with a fixed header, an extent list and the first bytes of its
// payload; the rest of the payload follows in the listed extents. The
// header is checksummed on its own and carries the payload's checksum, so a
// record is accepted only if every block of it was written completely.

const (
	blockSize = 4096

	sbMagic   = 0x4d45524e49485400 // "\x00THINREM" little-endian-ish tag; any fixed value works
	recMagicC = 0x544b4350         // checkpoint record
	recMagicJ = 0x4c4e524a         // journal record
	formatVer = 3                  // 2 added the journal's first sequence number (1 reads as 1), 3 the held journal prefix

	recHeaderFixed = 64
	extentSize     = 12
	maxExtents     = 256
	inlineStart    = recHeaderFixed + maxExtents*extentSize
	inlineCap      = blockSize - inlineStart
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// errBadSuperblock marks metadata that is neither zeroed nor ours.
var errBadSuperblock = errors.New("superblock validator check failed")

type extent struct {
	start uint64
	count uint32
}

// recHeader is a record's header:
//
//	0  magic u32 | 4 header crc u32 (over bytes 8..inlineStart)
//	8  epoch u64 | 16 seq u64 | 24 next u64 | 32 payload length u64
//	40 payload crc u32 | 44 extent count u32 | 48 reserved
//	64 extents: start u64, count u32 ...
//	inlineStart: first inlineCap bytes of the payload
type recHeader struct {
	magic   uint32
	epoch   uint64
	seq     uint64
	next    uint64
	length  uint64
	pcrc    uint32
	extents []extent
}

// encodeRecord fills head, a block the caller reuses from record to record,
// with h and the start of payload; rest is what goes to h's extents.
func encodeRecord(head []byte, h recHeader, payload []byte) (rest []byte, err error) {
	if len(h.extents) > maxExtents {
		return nil, fmt.Errorf("record needs %d extents, at most %d fit", len(h.extents), maxExtents)
	}
	head = head[:blockSize]
	clear(head)
	le := binary.LittleEndian
	le.PutUint32(head[0:], h.magic)
	le.PutUint64(head[8:], h.epoch)
	le.PutUint64(head[16:], h.seq)
	le.PutUint64(head[24:], h.next)
	le.PutUint64(head[32:], uint64(len(payload)))
	le.PutUint32(head[40:], crc(payload))
	le.PutUint32(head[44:], uint32(len(h.extents)))
	for i, e := range h.extents {
		o := recHeaderFixed + i*extentSize
		le.PutUint64(head[o:], e.start)
		le.PutUint32(head[o+8:], e.count)
	}
	n := copy(head[inlineStart:], payload)
	le.PutUint32(head[4:], crc(head[8:inlineStart]))
	return payload[n:], nil
}

func decodeHeader(b []byte) (recHeader, bool) {
	le := binary.LittleEndian
	if le.Uint32(b[4:]) != crc(b[8:inlineStart]) {
		return recHeader{}, false
	}
	h := recHeader{magic: le.Uint32(b[0:]), epoch: le.Uint64(b[8:]), seq: le.Uint64(b[16:]),
		next: le.Uint64(b[24:]), length: le.Uint64(b[32:]), pcrc: le.Uint32(b[40:])}
	n := le.Uint32(b[44:])
	if n > maxExtents {
		return recHeader{}, false
	}
	for i := 0; i < int(n); i++ {
		o := recHeaderFixed + i*extentSize
		h.extents = append(h.extents, extent{le.Uint64(b[o:]), le.Uint32(b[o+8:])})
	}
	return h, true
}

// superblock is one of the two alternating roots of the metadata file.
//
//	0 magic u64 | 8 crc u32 (over 12..4096) | 12 version u32
//	16 generation u64 | 24 location u64 | 32 data block sectors u32 | 36 flags u32
//	40 checkpoint head u64 | 48 epoch u64 | 56 journal head u64 | 64 held checkpoint u64
//	72 sequence number of the record at the journal head u64 (version 2)
//	80 held epoch u64 | 88 held journal head u64 | 96 held first sequence u64
//	104 held end sequence u64 (version 3: the held root is the held
//	checkpoint plus the journal records [first, end) of that epoch)
type superblock struct {
	gen              uint64
	loc              uint64
	dataBlockSectors uint32
	needsCheck       bool
	ckpt             uint64
	epoch            uint64
	jhead            uint64
	held             uint64
	jseq             uint64
	// The held root's journal prefix (held.go); hjseq == hjend when the
	// held checkpoint alone is the held root (versions before 3).
	hepoch, hjhead, hjseq, hjend uint64
}

const flagNeedsCheck = 1

func (s superblock) encode() []byte {
	b := make([]byte, blockSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], sbMagic)
	// Without a held journal prefix the file is what version 2 describes:
	// labelled so, an engine of version 2 still opens it. With one, version
	// 2 would ignore the prefix and reuse its blocks, so it must refuse.
	ver := uint32(formatVer)
	if s.hjend == s.hjseq {
		ver = 2
	}
	le.PutUint32(b[12:], ver)
	le.PutUint64(b[16:], s.gen)
	le.PutUint64(b[24:], s.loc)
	le.PutUint32(b[32:], s.dataBlockSectors)
	var fl uint32
	if s.needsCheck {
		fl |= flagNeedsCheck
	}
	le.PutUint32(b[36:], fl)
	le.PutUint64(b[40:], s.ckpt)
	le.PutUint64(b[48:], s.epoch)
	le.PutUint64(b[56:], s.jhead)
	le.PutUint64(b[64:], s.held)
	le.PutUint64(b[72:], s.jseq)
	le.PutUint64(b[80:], s.hepoch)
	le.PutUint64(b[88:], s.hjhead)
	le.PutUint64(b[96:], s.hjseq)
	le.PutUint64(b[104:], s.hjend)
	le.PutUint32(b[8:], crc(b[12:]))
	return b
}

func decodeSuperblock(b []byte, loc uint64) (superblock, bool) {
	le := binary.LittleEndian
	ver := le.Uint32(b[12:])
	if le.Uint64(b[0:]) != sbMagic || le.Uint32(b[8:]) != crc(b[12:]) || ver < 1 || ver > formatVer {
		return superblock{}, false
	}
	s := superblock{gen: le.Uint64(b[16:]), loc: le.Uint64(b[24:]), dataBlockSectors: le.Uint32(b[32:]),
		needsCheck: le.Uint32(b[36:])&flagNeedsCheck != 0, ckpt: le.Uint64(b[40:]),
		epoch: le.Uint64(b[48:]), jhead: le.Uint64(b[56:]), held: le.Uint64(b[64:]), jseq: 1}
	if ver >= 2 {
		s.jseq = le.Uint64(b[72:])
	}
	if ver >= 3 {
		s.hepoch, s.hjhead, s.hjseq, s.hjend = le.Uint64(b[80:]), le.Uint64(b[88:]), le.Uint64(b[96:]), le.Uint64(b[104:])
	}
	if s.loc != loc || s.jseq == 0 || s.hjend < s.hjseq {
		return superblock{}, false
	}
	return s, true
}

// newerVersion reports the version of a superblock that checks out but was
// written by a newer format than this engine reads.
func newerVersion(b []byte) (uint32, bool) {
	le := binary.LittleEndian
	ver := le.Uint32(b[12:])
	return ver, le.Uint64(b[0:]) == sbMagic && le.Uint32(b[8:]) == crc(b[12:]) && ver > formatVer
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
