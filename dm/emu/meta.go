package emu

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
)

// A mapping value packs what the kernel's data-mapping btree leaf holds
// (data block << 24 | time) plus a presence bit, so that the zero value means
// "unmapped" and a lookup needs no second structure.
const (
	mapPresent  = uint64(1) << 63
	timeBits    = 24
	timeMask    = uint64(1)<<timeBits - 1
	chunkShift  = 7
	chunkSize   = 1 << chunkShift
	chunkMask   = chunkSize - 1
	maxDataBits = 63 - timeBits
)

func packMapping(block uint64, time uint32) uint64 {
	return mapPresent | block<<timeBits | uint64(time)&timeMask
}

func unpackMapping(v uint64) (block uint64, time uint32) {
	return (v &^ mapPresent) >> timeBits, uint32(v & timeMask)
}

// chunk is a run of chunkSize consecutive virtual blocks of one thin device.
// It stands for a btree leaf of the kernel's mapping tree: snapshots share
// chunks (refs counts the devices and held views using it) and a change to a
// shared chunk copies it first, exactly as the kernel shadows a shared leaf.
// The number of live chunks therefore drives the metadata space model.
type chunk struct {
	refs int32
	n    int32 // present entries
	// gen is meta.chunkGen when the chunk was made; while a background
	// checkpoint reads the chunks of an older generation (meta.frozen) they
	// are copied before a change instead of changed in place.
	gen uint64
	e   [chunkSize]uint64
}

// thinDev is one thin device's metadata (the kernel's dm_thin_device plus
// its mapping tree).
type thinDev struct {
	id           uint32
	mapped       uint64
	transaction  uint64
	creationTime uint32
	snapTime     uint32
	chunks       map[uint64]*chunk
	// open counts thin targets that opened this id (delete is EBUSY then).
	open int
	// tree is this device's share of meta.devTree (see retree).
	tree uint64
}

func (d *thinDev) lookup(vb uint64) uint64 {
	c := d.chunks[vb>>chunkShift]
	if c == nil {
		return 0
	}
	return c.e[vb&chunkMask]
}

// highest returns the highest mapped virtual block.
func (d *thinDev) highest() (uint64, bool) {
	if d.mapped == 0 {
		return 0, false
	}
	var best uint64
	found := false
	for ci, c := range d.chunks {
		if c.n == 0 {
			continue
		}
		base := ci << chunkShift
		if found && base+chunkSize-1 <= best {
			continue
		}
		for i := chunkSize - 1; i >= 0; i-- {
			if c.e[i] != 0 {
				if vb := base + uint64(i); !found || vb > best {
					best, found = vb, true
				}
				break
			}
		}
	}
	return best, found
}

// sortedChunks returns the chunk indexes in ascending order.
func (d *thinDev) sortedChunks() []uint64 {
	if len(d.chunks) == 0 {
		return nil
	}
	idx := make([]uint64, 0, len(d.chunks))
	for ci := range d.chunks {
		idx = append(idx, ci)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	return idx
}

// errNoDataSpace is alloc's answer when no data block can be handed out.
var errNoDataSpace = errors.New("no free data blocks")

// meta is a pool's metadata in memory: what the kernel keeps in its
// metadata device (superblock, device details, mapping trees, data space
// map). Every change is also appended to jr, the pending journal record,
// which the store writes at the next commit. Callers hold the pool's lock.
type meta struct {
	dataBlockSectors uint32
	nrDataBlocks     uint64
	metaBlocks       uint64 // metadata device size recorded, in 4 KiB blocks
	txn              uint64
	time             uint32
	needsCheck       bool
	heldRoot         uint64 // store block of the held checkpoint, 0 if none
	devs             map[uint32]*thinDev
	// held are the devices as the held metadata root saw them: they keep
	// their chunks and data blocks referenced until the root is released,
	// as the kernel's held root keeps its btrees (and their blocks) alive.
	held map[uint32]*thinDev

	refs       []uint32 // data block reference counts
	allocated  uint64   // blocks with refs > 0
	quarantine []uint64 // bitmap: freed this transaction, not reusable before commit
	quarList   []uint64
	cursor     uint64 // next block to try (the kernel restarts from 0 after each commit)
	liveChunks int64
	// devTree is the modelled btree blocks of every live device's mapping
	// tree, kept up to date as chunks come and go so that the space model
	// costs O(1) per commit whatever the number of devices.
	devTree     uint64
	jr          []byte // pending journal ops
	dirty       bool
	quarantined uint64
	// frozen: a background checkpoint is encoding the chunks made before
	// generation chunkGen, so writableChunk copies them (see bgckpt.go).
	frozen   bool
	chunkGen uint64
}

func newMeta(blockSectors uint32, metaBlocks uint64) *meta {
	return &meta{dataBlockSectors: blockSectors, metaBlocks: metaBlocks, devs: map[uint32]*thinDev{}}
}

func (m *meta) freeDataBlocks() uint64 { return m.nrDataBlocks - m.allocated }

// resizeData grows the data space map (shrinking is refused by the caller).
func (m *meta) resizeData(n uint64) {
	if n == m.nrDataBlocks {
		return
	}
	refs := make([]uint32, n)
	copy(refs, m.refs)
	m.refs = refs
	q := make([]uint64, (n+63)/64)
	copy(q, m.quarantine)
	m.quarantine = q
	m.nrDataBlocks = n
	m.logResizeData(n)
}

func (m *meta) inc(b uint64) {
	if m.refs[b] == 0 {
		m.allocated++
	}
	m.refs[b]++
}

func (m *meta) dec(b uint64) {
	m.refs[b]--
	if m.refs[b] == 0 {
		m.allocated--
		// persistent-data never reuses a block freed in the running
		// transaction: the committed mapping may still point at it.
		if m.quarantine[b>>6]&(1<<(b&63)) == 0 {
			m.quarantine[b>>6] |= 1 << (b & 63)
			m.quarList = append(m.quarList, b)
			m.quarantined++
		}
		if b < m.cursor {
			m.cursor = b
		}
	}
}

// alloc hands out a free data block with refcount 1, searching upwards from
// the cursor and wrapping once, like sm_disk_new_block.
func (m *meta) alloc() (uint64, error) {
	n := m.nrDataBlocks
	if m.allocated >= n {
		return 0, errNoDataSpace
	}
	for pass := 0; pass < 2; pass++ {
		start, end := m.cursor, n
		if pass == 1 {
			start, end = 0, m.cursor
		}
		for b := start; b < end; {
			w := b >> 6
			q := m.quarantine[w] >> (b & 63)
			if q == ^uint64(0)>>(b&63) && b&63 == 0 {
				b += 64
				continue
			}
			if m.refs[b] == 0 && q&1 == 0 {
				m.cursor = b + 1
				m.inc(b)
				return b, nil
			}
			b++
		}
	}
	return 0, errNoDataSpace
}

// committed is called after a successful commit: quarantined blocks become
// allocatable and the allocator restarts from the lowest free block.
func (m *meta) committed() {
	for _, b := range m.quarList {
		m.quarantine[b>>6] &^= 1 << (b & 63)
	}
	m.quarList = m.quarList[:0]
	m.quarantined = 0
	m.jr = m.jr[:0]
	m.dirty = false
	m.cursor = 0
}

// allocatableBlocks is the number of blocks alloc could hand out now.
func (m *meta) allocatableBlocks() uint64 {
	f := m.freeDataBlocks()
	if f < m.quarantined {
		return 0
	}
	return f - m.quarantined
}

// setMapping maps vb of d to block b at time t (taking over one reference
// the caller holds on b) and releases the reference of any previous mapping.
func (m *meta) setMapping(d *thinDev, vb, b uint64, t uint32) {
	c := m.writableChunk(d, vb>>chunkShift)
	old := c.e[vb&chunkMask]
	c.e[vb&chunkMask] = packMapping(b, t)
	if old == 0 {
		c.n++
		d.mapped++
	} else {
		ob, _ := unpackMapping(old)
		m.dec(ob)
	}
	m.logSetMapping(d.id, vb, b, t)
}

// removeMapping unmaps vb of d; it reports whether vb was mapped.
func (m *meta) removeMapping(d *thinDev, vb uint64) bool {
	ci := vb >> chunkShift
	c := d.chunks[ci]
	if c == nil || c.e[vb&chunkMask] == 0 {
		return false
	}
	c = m.writableChunk(d, ci)
	ob, _ := unpackMapping(c.e[vb&chunkMask])
	c.e[vb&chunkMask] = 0
	c.n--
	d.mapped--
	m.dec(ob)
	if c.n == 0 {
		delete(d.chunks, ci)
		m.liveChunks--
		m.retree(d)
	}
	m.logRemoveMapping(d.id, vb)
	return true
}

// writableChunk returns d's chunk ci, copying it first if it is shared.
func (m *meta) writableChunk(d *thinDev, ci uint64) *chunk {
	c := d.chunks[ci]
	switch {
	case c == nil:
		c = &chunk{refs: 1, gen: m.chunkGen}
		d.chunks[ci] = c
		m.liveChunks++
		m.retree(d)
	case c.refs > 1:
		nc := &chunk{refs: 1, n: c.n, gen: m.chunkGen, e: c.e}
		c.refs--
		d.chunks[ci] = nc
		m.liveChunks++
		c = nc
	case m.frozen && c.gen != m.chunkGen:
		// Only d uses c, so the copy replaces it one for one: the live
		// chunk count and the modelled tree do not change.
		nc := &chunk{refs: 1, n: c.n, gen: m.chunkGen, e: c.e}
		d.chunks[ci] = nc
		c = nc
	}
	return c
}

func (m *meta) dropChunk(c *chunk) {
	c.refs--
	if c.refs == 0 {
		m.liveChunks--
	}
}

// createThin adds an empty thin device (dm_pool_create_thin).
func (m *meta) createThin(id uint32) error {
	if _, ok := m.devs[id]; ok {
		return errExists
	}
	d := &thinDev{id: id, creationTime: m.time, snapTime: m.time, chunks: map[uint64]*chunk{}}
	m.devs[id] = d
	m.retree(d)
	m.logCreateThin(id)
	m.dirty = true
	return nil
}

// createSnap adds id as a snapshot of origin (dm_pool_create_snap): the
// pool's time advances, both devices record it as their snapshot time, and
// every mapping of the origin gains a reference.
func (m *meta) createSnap(id, origin uint32) error {
	if _, ok := m.devs[id]; ok {
		return errExists
	}
	o, ok := m.devs[origin]
	if !ok {
		return errNoDevice
	}
	m.time++
	o.snapTime = m.time
	s := &thinDev{id: id, mapped: o.mapped, transaction: o.transaction, creationTime: m.time,
		snapTime: m.time, chunks: make(map[uint64]*chunk, len(o.chunks))}
	for ci, c := range o.chunks {
		c.refs++
		s.chunks[ci] = c
		for _, v := range c.e {
			if v != 0 {
				b, _ := unpackMapping(v)
				m.inc(b)
			}
		}
	}
	m.devs[id] = s
	m.retree(s)
	m.logCreateSnap(id, origin)
	m.dirty = true
	return nil
}

// deleteThin removes a device and releases all its mappings.
func (m *meta) deleteThin(id uint32) error {
	d, ok := m.devs[id]
	if !ok {
		return errNoDevice
	}
	for _, c := range d.chunks {
		for _, v := range c.e {
			if v != 0 {
				b, _ := unpackMapping(v)
				m.dec(b)
			}
		}
		m.dropChunk(c)
	}
	m.devTree -= d.tree
	delete(m.devs, id)
	m.logDelete(id)
	m.dirty = true
	return nil
}

func (m *meta) setTransaction(old, new uint64) error {
	if m.txn != old {
		return errTxnMismatch
	}
	m.txn = new
	m.logSetTxn(new)
	m.dirty = true
	return nil
}

var (
	errExists      = errors.New("thin device id exists")
	errNoDevice    = errors.New("thin device id does not exist")
	errTxnMismatch = errors.New("mismatched transaction id")
)

// check verifies that reference counts equal the number of mappings that
// point at each block and that per-device counts are right; tests use it.
// retree brings d's share of devTree up to date with its chunk count.
func (m *meta) retree(d *thinDev) {
	t := devTreeBlocks(len(d.chunks))
	m.devTree += t - d.tree // modular: also right when the share shrinks
	d.tree = t
}

// recountTree recomputes devTree from scratch (after a bulk load).
func (m *meta) recountTree() {
	m.devTree = 0
	for _, d := range m.devs {
		d.tree = devTreeBlocks(len(d.chunks))
		m.devTree += d.tree
	}
}

func (m *meta) check() error {
	var tree uint64
	for _, d := range m.devs {
		tree += devTreeBlocks(len(d.chunks))
	}
	if tree != m.devTree {
		return fmt.Errorf("device tree blocks %d, counted %d", m.devTree, tree)
	}
	want := make([]uint32, m.nrDataBlocks)
	chunkRefs := map[*chunk]int32{}
	all := make([]*thinDev, 0, len(m.devs)+len(m.held))
	for _, d := range m.devs {
		all = append(all, d)
	}
	for _, d := range m.held {
		all = append(all, d)
	}
	for _, d := range all {
		id := d.id
		var n uint64
		for ci, c := range d.chunks {
			chunkRefs[c]++
			var cn int32
			for i, v := range c.e {
				if v == 0 {
					continue
				}
				cn++
				b, _ := unpackMapping(v)
				if b >= m.nrDataBlocks {
					return fmt.Errorf("dev %d block %d maps data block %d beyond %d", id, ci<<chunkShift+uint64(i), b, m.nrDataBlocks)
				}
				want[b]++
			}
			if cn != c.n || cn == 0 {
				return fmt.Errorf("dev %d chunk %d: count %d, entries %d", id, ci, c.n, cn)
			}
			n += uint64(cn)
		}
		if n != d.mapped {
			return fmt.Errorf("dev %d: mapped %d, counted %d", id, d.mapped, n)
		}
	}
	var alloc uint64
	for b, r := range m.refs {
		if r != want[b] {
			return fmt.Errorf("data block %d: refcount %d, references %d", b, r, want[b])
		}
		if r > 0 {
			alloc++
		}
	}
	if alloc != m.allocated {
		return fmt.Errorf("allocated %d, counted %d", m.allocated, alloc)
	}
	for c, r := range chunkRefs {
		if c.refs != r {
			return fmt.Errorf("chunk refs %d, users %d", c.refs, r)
		}
	}
	if int64(len(chunkRefs)) != m.liveChunks {
		return fmt.Errorf("live chunks %d, counted %d", m.liveChunks, len(chunkRefs))
	}
	return nil
}

func popcount(ws []uint64) (n uint64) {
	for _, w := range ws {
		n += uint64(bits.OnesCount64(w))
	}
	return n
}

// pinHeld makes the current devices the held root's view. The view exists
// to keep the chunks and data blocks the held root references alive (and
// for check); a device that maps nothing references neither, so it is left
// out: at 33,000 mostly empty devices the view was two allocations per
// device on the reserve_metadata_snap message path.
func (m *meta) pinHeld() {
	m.held = make(map[uint32]*thinDev)
	for id, d := range m.devs {
		if len(d.chunks) == 0 {
			continue
		}
		h := &thinDev{id: id, mapped: d.mapped, transaction: d.transaction, creationTime: d.creationTime,
			snapTime: d.snapTime, chunks: make(map[uint64]*chunk, len(d.chunks))}
		for ci, c := range d.chunks {
			c.refs++
			h.chunks[ci] = c
			m.incChunk(c)
		}
		m.held[id] = h
	}
}

// adoptHeld installs a held view loaded from disk, sharing chunks that are
// still identical in the live devices (devices without chunks left out, as
// in pinHeld).
func (m *meta) adoptHeld(hm *meta) {
	m.held = make(map[uint32]*thinDev)
	for id, hd := range hm.devs {
		if len(hd.chunks) == 0 {
			continue
		}
		live := m.devs[id]
		h := &thinDev{id: id, mapped: hd.mapped, transaction: hd.transaction, creationTime: hd.creationTime,
			snapTime: hd.snapTime, chunks: make(map[uint64]*chunk, len(hd.chunks))}
		for ci, c := range hd.chunks {
			if live != nil {
				if lc := live.chunks[ci]; lc != nil && lc.e == c.e {
					lc.refs++
					h.chunks[ci] = lc
					m.incChunk(lc)
					continue
				}
			}
			nc := &chunk{refs: 1, n: c.n, e: c.e}
			m.liveChunks++
			h.chunks[ci] = nc
			m.incChunk(nc)
		}
		m.held[id] = h
	}
}

// unpinHeld releases the held view's references.
func (m *meta) unpinHeld() {
	for _, h := range m.held {
		for _, c := range h.chunks {
			for _, v := range c.e {
				if v != 0 {
					b, _ := unpackMapping(v)
					m.dec(b)
				}
			}
			m.dropChunk(c)
		}
	}
	m.held = nil
}

func (m *meta) incChunk(c *chunk) {
	for _, v := range c.e {
		if v != 0 {
			b, _ := unpackMapping(v)
			m.inc(b)
		}
	}
}
