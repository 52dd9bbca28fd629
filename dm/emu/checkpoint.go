package emu

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// A checkpoint payload is the whole metadata state:
//
//	nrDataBlocks, metaBlocks, txn, time (uvarints)
//	chunk count, then per chunk: entry count, then per entry
//	  index delta, zigzag data-block delta, time  (runs cost ~3 bytes/entry)
//	device count, then per device: id, transaction, creation time,
//	  snapshot time, chunk count, then (chunk index delta, chunk number)
//
// Chunks are stored once and referenced by number, so chunks shared by
// snapshots stay shared after a reload (the metadata space model depends
// on it, as the kernel's block counts depend on shared btree nodes).

// stateImage is what a checkpoint needs of a meta, captured under the
// pool's lock so that it can be encoded elsewhere: the scalars, per device
// its details and its chunk references. The chunks themselves are shared
// with the live state; the capturer freezes them (meta.frozen) until the
// encoding is done, so a live change copies a chunk instead of changing it.
type stateImage struct {
	nrDataBlocks, metaBlocks, txn uint64
	time                          uint32
	devs                          []devImage
	refs                          []chunkRef
}

type devImage struct {
	id                     uint32
	transaction            uint64
	creationTime, snapTime uint32
	first, count           int // the device's slice of stateImage.refs
}

type chunkRef struct {
	ci uint64
	c  *chunk
}

// ckptEncoder captures and encodes checkpoints. The store keeps one and
// reuses its slices, map and output buffer from one compaction to the next,
// so that a compaction of a large pool allocates (almost) nothing: at 33,000
// devices a fresh capture and payload were ~2 MB of garbage each time. One
// capture and encoding at a time: the background goroutine owns it from the
// capture until its done channel closes, and the payload it returns is
// valid until the next capture.
type ckptEncoder struct {
	img   stateImage
	buf   []byte
	num   map[*chunk]uint64
	order []*chunk
	byID  []uint64 // (id << 32 | index into img.devs), sorted
}

// maxRetainedPayload bounds the output buffer the encoder keeps between
// compactions. A larger checkpoint (millions of mappings) is encoded at
// most once per twice its size of journal, so allocating it anew costs
// little per commit, while keeping it would hold that memory for good.
const maxRetainedPayload = 4 << 20

// capture copies m's device table; it costs a few map reads per device and
// chunk, far less than encoding (no sorting, no varints, no allocation per
// device).
func (e *ckptEncoder) capture(m *meta) {
	img := &e.img
	img.nrDataBlocks, img.metaBlocks, img.txn, img.time = m.nrDataBlocks, m.metaBlocks, m.txn, m.time
	img.devs = slices.Grow(img.devs[:0], len(m.devs))
	img.refs = slices.Grow(img.refs[:0], int(m.liveChunks)+len(m.devs))
	for id, d := range m.devs {
		di := devImage{id: id, transaction: d.transaction, creationTime: d.creationTime, snapTime: d.snapTime,
			first: len(img.refs)}
		// Most devices of a large pool map nothing yet, and touching their
		// empty chunk map is a cache miss per device; a device without
		// mappings has no chunks (empty chunks are dropped: meta.check).
		if d.mapped > 0 {
			for ci, c := range d.chunks {
				img.refs = append(img.refs, chunkRef{ci, c})
			}
		}
		di.count = len(img.refs) - di.first
		img.devs = append(img.devs, di)
	}
}

// encodeState captures and encodes m with an encoder of its own.
func encodeState(m *meta) []byte {
	var e ckptEncoder
	e.capture(m)
	return e.encode()
}

// encode writes the checkpoint payload of the captured image (format
// above). It reads the captured chunks' entries, nothing of the live meta,
// and lets go of its references to the chunks when done, so that chunks
// the live state dropped since are not kept alive until the next capture.
func (e *ckptEncoder) encode() []byte {
	img := &e.img
	b := e.buf[:0]
	if want := 64 + len(img.refs)*chunkSize*3/2 + len(img.devs)*16; cap(b) < want {
		b = make([]byte, 0, want)
	}
	u := func(v uint64) { b = binary.AppendUvarint(b, v) }
	u(img.nrDataBlocks)
	u(img.metaBlocks)
	u(img.txn)
	u(uint64(img.time))
	// The devices in id order: sorting packed (id, index) keys is a sort of
	// plain integers, several times faster than moving the images through a
	// comparison function (at 33,000 devices that sort was 80% of encode).
	byID := slices.Grow(e.byID[:0], len(img.devs))
	for i, d := range img.devs {
		byID = append(byID, uint64(d.id)<<32|uint64(i))
	}
	slices.Sort(byID)
	e.byID = byID
	if e.num == nil {
		e.num = make(map[*chunk]uint64)
	}
	num, order := e.num, e.order[:0]
	for _, k := range byID {
		d := &img.devs[uint32(k)]
		refs := img.refs[d.first : d.first+d.count]
		slices.SortFunc(refs, func(x, y chunkRef) int { return cmp.Compare(x.ci, y.ci) })
		for _, r := range refs {
			if _, ok := num[r.c]; !ok {
				num[r.c] = uint64(len(order))
				order = append(order, r.c)
			}
		}
	}
	u(uint64(len(order)))
	for _, c := range order {
		u(uint64(c.n))
		prevI, prevB := -1, int64(0)
		for i, v := range c.e {
			if v == 0 {
				continue
			}
			blk, t := unpackMapping(v)
			u(uint64(i - prevI))
			b = binary.AppendVarint(b, int64(blk)-prevB)
			u(uint64(t))
			prevI, prevB = i, int64(blk)
		}
	}
	u(uint64(len(img.devs)))
	for _, k := range byID {
		d := &img.devs[uint32(k)]
		u(uint64(d.id))
		u(d.transaction)
		u(uint64(d.creationTime))
		u(uint64(d.snapTime))
		u(uint64(d.count))
		var prev uint64
		for _, r := range img.refs[d.first : d.first+d.count] {
			u(r.ci - prev)
			u(num[r.c])
			prev = r.ci
		}
	}
	clear(num)
	clear(order)
	e.order = order[:0]
	clear(img.refs)
	img.refs = img.refs[:0]
	e.buf = nil
	if cap(b) <= maxRetainedPayload {
		e.buf = b[:0]
	}
	return b
}

func decodeState(p []byte, blockSectors uint32) (*meta, error) {
	var err error
	u := func() uint64 {
		if err != nil {
			return 0
		}
		v, n := binary.Uvarint(p)
		if n <= 0 {
			err = fmt.Errorf("checkpoint truncated")
			return 0
		}
		p = p[n:]
		return v
	}
	s := func() int64 {
		if err != nil {
			return 0
		}
		v, n := binary.Varint(p)
		if n <= 0 {
			err = fmt.Errorf("checkpoint truncated")
			return 0
		}
		p = p[n:]
		return v
	}
	nrData := u()
	metaBlocks := u()
	m := newMeta(blockSectors, metaBlocks)
	if nrData > 1<<maxDataBits {
		return nil, fmt.Errorf("checkpoint: %d data blocks", nrData)
	}
	m.resizeData(nrData)
	m.txn = u()
	m.time = uint32(u())
	nchunks := u()
	if err != nil || nchunks > uint64(len(p)) {
		return nil, fmt.Errorf("checkpoint: bad chunk count: %v", err)
	}
	chunks := make([]*chunk, nchunks)
	for k := range chunks {
		c := &chunk{}
		n := u()
		if n == 0 || n > chunkSize {
			return nil, fmt.Errorf("checkpoint: chunk %d has %d entries", k, n)
		}
		i, blk := -1, int64(0)
		for j := uint64(0); j < n; j++ {
			i += int(u())
			blk += s()
			t := u()
			if err != nil {
				return nil, err
			}
			if i >= chunkSize || blk < 0 || uint64(blk) >= nrData || c.e[i] != 0 {
				return nil, fmt.Errorf("checkpoint: bad entry %d/%d in chunk %d", i, blk, k)
			}
			c.e[i] = packMapping(uint64(blk), uint32(t))
		}
		c.n = int32(n)
		chunks[k] = c
	}
	ndev := u()
	if err == nil && ndev <= uint64(len(p)) {
		// Sized up front (each device takes at least a byte): a usage
		// report decodes 33,000 devices per pool in the cluster bench.
		m.devs = make(map[uint32]*thinDev, ndev)
	}
	for k := uint64(0); k < ndev && err == nil; k++ {
		d := &thinDev{id: uint32(u()), transaction: u(), creationTime: uint32(u()), snapTime: uint32(u()),
			chunks: map[uint64]*chunk{}}
		nc := u()
		var ci uint64
		for j := uint64(0); j < nc && err == nil; j++ {
			ci += u()
			cn := u()
			if err != nil || cn >= uint64(len(chunks)) || d.chunks[ci] != nil {
				return nil, fmt.Errorf("checkpoint: device %d bad chunk reference", d.id)
			}
			c := chunks[cn]
			if c.refs == 0 {
				m.liveChunks++
			}
			c.refs++
			d.chunks[ci] = c
			d.mapped += uint64(c.n)
			for _, v := range c.e {
				if v != 0 {
					blk, _ := unpackMapping(v)
					m.inc(blk)
				}
			}
		}
		if _, dup := m.devs[d.id]; dup {
			return nil, fmt.Errorf("checkpoint: device %d twice", d.id)
		}
		m.devs[d.id] = d
	}
	if err != nil {
		return nil, err
	}
	m.recountTree()
	if len(p) != 0 {
		return nil, fmt.Errorf("checkpoint: %d trailing bytes", len(p))
	}
	return m, nil
}
