package emu

// Metadata space model. The engine's own format is much smaller than the
// kernel's btrees, but the status line must report what the kernel would:
// thinraft's autoextend and "pool would run out" checks are driven by it.
// So the engine counts the blocks the kernel's structures would occupy
// after a commit:
//
//   - the superblock;
//   - the metadata space map: one index block, a bitmap block per 16320
//     metadata blocks (2 bits per block), and its reference-count btree root;
//   - the data space map: a bitmap block per 16320 data blocks, the btree
//     of index entries over them, and its reference-count btree root;
//   - the device-details btree (24-byte values: 127 per leaf) and the
//     top-level mapping btree (one 8-byte root per device: 255 per leaf);
//   - per thin device its mapping btree: one leaf per chunk of 128 virtual
//     blocks (the fill a btree of 255-entry leaves reaches when filled in
//     order, as split_one_into_two leaves half-full leaves behind), chunks
//     shared between snapshots counted once (the kernel shares subtrees the
//     same way until a write shadows them), plus interior nodes; an empty
//     device still has its root leaf.
//
// The kernel reports used = total - (free - reserve), the reserve being
// min(4096, total/10) blocks (__set_metadata_reserve), so a fresh pool
// with a 64 MiB metadata device shows 1648/16384, as the kernel does.

const (
	smEntriesPerBitmap = (blockSize - 16) * 4
	detailsPerLeaf     = 127
	topPerLeaf         = 255
	interiorFanout     = 252
	indexPerLeaf       = 168
	maxMetaReserve     = 4096
	// maxMetadataBlocks is the kernel's cap on the usable metadata device
	// (THIN_METADATA_MAX_SECTORS: 255 * (1 << 14) * 8 sectors of 4 KiB).
	maxMetadataBlocks = 255 * (1 << 14) * 8 / 8
)

func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }

// btreeBlocks is the number of nodes of a btree with n entries and leaves
// of the given capacity (an empty btree is one leaf).
func btreeBlocks(n, perLeaf uint64) uint64 {
	if n <= perLeaf {
		return 1
	}
	leaves := ceilDiv(n, perLeaf)
	return leaves + interiorNodes(leaves)
}

// devTreeBlocks is one device's mapping-tree blocks above its leaves: an
// empty device has its root leaf, a device with k leaf chunks the interior
// nodes over them.
func devTreeBlocks(k int) uint64 {
	if k == 0 {
		return 1
	}
	return interiorNodes(uint64(k))
}

func interiorNodes(children uint64) uint64 {
	var n uint64
	for children > 1 {
		children = ceilDiv(children, interiorFanout)
		n += children
	}
	return n
}

// metaReserve is the kernel's metadata reserve for a device of total blocks.
func metaReserve(total uint64) uint64 {
	r := total / 10
	if r > maxMetaReserve {
		r = maxMetaReserve
	}
	return r
}

// metaThreshold is calc_metadata_threshold: the metadata low-water mark.
func metaThreshold(total uint64) uint64 {
	q := total / 4
	if q > 1024 {
		return 1024
	}
	return q
}

// metaInUse models the number of metadata blocks the kernel's committed
// structures would occupy for m.
func (m *meta) metaInUse() uint64 {
	total := m.metaBlocks
	n := uint64(1)                                             // superblock
	n += 1 + ceilDiv(total, smEntriesPerBitmap) + 1            // metadata space map
	dataBitmaps := ceilDiv(m.nrDataBlocks, smEntriesPerBitmap) // data space map
	n += dataBitmaps + btreeBlocks(dataBitmaps, indexPerLeaf) + 1
	ndev := uint64(len(m.devs))
	n += btreeBlocks(ndev, detailsPerLeaf) + btreeBlocks(ndev, topPerLeaf)
	n += uint64(m.liveChunks)
	n += m.devTree
	if m.heldRoot != 0 {
		n++ // the copied superblock the held root points at
	}
	return n
}

// metaFree is dm_pool_get_free_metadata_block_count: free blocks minus the
// reserve, never negative.
func (m *meta) metaFree() uint64 {
	used := m.metaInUse()
	total := m.metaBlocks
	if used >= total {
		return 0
	}
	free := total - used
	r := metaReserve(total)
	if free <= r {
		return 0
	}
	return free - r
}

// metaRawFree is the free count without the reserve (what the metadata
// space map's low-water threshold watches).
func (m *meta) metaRawFree() uint64 {
	used := m.metaInUse()
	if used >= m.metaBlocks {
		return 0
	}
	return m.metaBlocks - used
}
