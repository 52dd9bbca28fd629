package emu

import (
	"encoding/binary"
	"fmt"
	"sort"
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

func encodeState(m *meta) []byte {
	b := make([]byte, 0, 64+int(m.liveChunks)*chunkSize*3)
	u := func(v uint64) { b = binary.AppendUvarint(b, v) }
	u(m.nrDataBlocks)
	u(m.metaBlocks)
	u(m.txn)
	u(uint64(m.time))
	ids := make([]uint32, 0, len(m.devs))
	for id := range m.devs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	num := map[*chunk]uint64{}
	var order []*chunk
	for _, id := range ids {
		d := m.devs[id]
		for _, ci := range d.sortedChunks() {
			c := d.chunks[ci]
			if _, ok := num[c]; !ok {
				num[c] = uint64(len(order))
				order = append(order, c)
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
	u(uint64(len(ids)))
	for _, id := range ids {
		d := m.devs[id]
		u(uint64(id))
		u(d.transaction)
		u(uint64(d.creationTime))
		u(uint64(d.snapTime))
		cis := d.sortedChunks()
		u(uint64(len(cis)))
		var prev uint64
		for _, ci := range cis {
			u(ci - prev)
			u(num[d.chunks[ci]])
			prev = ci
		}
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
