package emu

import "syscall"

// Provisioning of whole blocks in runs. A write that covers whole blocks
// needing new ones (unmapped, or shared with a snapshot) needs neither a
// copy nor zeroing: the kernel remaps such a bio to the new block without
// kcopyd (io_overwrites_block). provisionRun does that for as many
// consecutive whole blocks of one request as it can allocate under one
// write lock, then writes every run of them that the allocator placed
// contiguously in the data file with one pwrite. That costs one lock round
// trip and one system call per run instead of per block, and it writes the
// data file the way the caller wrote the device: a 1 MiB write reaches the
// file system as one 1 MiB write, not sixteen 64 KiB ones, so the page
// cache and the file system's extents look like the plain file's.
//
// Everything that can make a block's provisioning unusual (a pending
// provisioning of the same block, a pool not in write mode, an allocation
// that would have to commit first) ends the run; the caller then takes the
// one-block path (provision), which handles waiting, commits and errors
// exactly as the kernel's alloc_data_block path does. Semantics are the
// same either way: each block gets its own allocation and mapping, in
// order, and an error leaves the blocks before it written and mapped.

// maxRunBlocks bounds one run so that a huge request does not hold the
// pending entries of many blocks (and their writers) at once.
const maxRunBlocks = 256

// provisionRun provisions and writes the longest prefix of buf (which
// starts at block vb and holds whole blocks) whose blocks all need new
// blocks. It returns the bytes written; 0 means the first block needs the
// one-block path.
func (t *thinTarget) provisionRun(vb uint64, buf []byte) (int64, error) {
	p := t.p
	bb := p.blockBytes
	want := uint64(int64(len(buf)) / bb)
	if want > maxRunBlocks {
		want = maxRunBlocks
	}
	p.mu.Lock()
	md := p.md
	d := md.devs[t.id]
	if d == nil || p.mode != modeWrite {
		p.mu.Unlock()
		return 0, nil
	}
	var nbs [maxRunBlocks]uint64
	var chs [maxRunBlocks]chan struct{}
	k := uint64(0)
	for ; k < want; k++ {
		key := pendKey{t.id, vb + k}
		if p.pending[key] != nil {
			break
		}
		if old := d.lookup(vb + k); old != 0 {
			if _, tm := unpackMapping(old); d.snapTime <= tm {
				break // mapped and unshared: the fast path writes it
			}
		}
		if md.allocatableBlocks() == 0 {
			break // allocation would commit first: one-block path
		}
		nb, err := p.allocBlock()
		if err != nil {
			break // cannot happen with allocatable blocks; be safe
		}
		nbs[k] = nb
		chs[k] = make(chan struct{})
		p.pending[key] = chs[k]
	}
	p.mu.Unlock()
	if k == 0 {
		return 0, nil
	}

	var ioerr error
	for i := uint64(0); i < k && ioerr == nil; {
		j := i + 1
		for j < k && nbs[j] == nbs[j-1]+1 {
			j++
		}
		_, err := p.data.WriteAt(buf[int64(i)*bb:int64(j)*bb], int64(nbs[i])*bb)
		ioerr = ioErr(err)
		i = j
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	for i := uint64(0); i < k; i++ {
		delete(p.pending, pendKey{t.id, vb + i})
		close(chs[i])
	}
	for i := uint64(0); i < k; i++ {
		if p.md != md {
			// A commit failed and aborted the transaction under us: the
			// blocks belong to nothing any more.
			return int64(i) * bb, errIO("write", syscall.EIO, "metadata transaction aborted")
		}
		if ioerr == nil && p.mode >= modeOutOfMetadataSpace {
			ioerr = errIO("write", syscall.EIO, "pool became read-only")
		}
		if ioerr != nil {
			for ; i < k; i++ {
				md.dec(nbs[i])
			}
			return 0, ioerr
		}
		chunks := md.liveChunks
		md.setMapping(d, vb+i, nbs[i], md.time)
		if md.liveChunks != chunks && md.metaFree() == 0 {
			// Commit before the metadata reserve is used (alloc_data_block).
			p.commit()
		}
	}
	return int64(k) * bb, nil
}
