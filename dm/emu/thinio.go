package emu

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// IO of a thin device. Each request is split at pool block boundaries, as
// dm core splits bios at the thin target's max_io_len. The fast path (a
// read, or a write to a mapped block that is not shared) looks the block up
// under the pool's read lock and issues pread/pwrite on the data file while
// still holding it, so the block cannot be unmapped and reused under the
// IO. Provisioning and breaking sharing take the write lock only to
// allocate and to insert the mapping; the data copy runs unlocked while a
// pending entry keeps other writers and discards of that block waiting (the
// kernel's bio prison cell).

func (t *thinTarget) readAt(buf []byte, off int64) error {
	p := t.p
	if !p.gate.enter() {
		return errIO("read", syscall.EIO, "pool is gone")
	}
	defer p.gate.leave()
	for len(buf) > 0 {
		n, err := t.readRun(buf, off)
		if err != nil {
			return err
		}
		buf, off = buf[n:], off+n
	}
	return nil
}

// readRun reads the longest prefix of buf that is either one unmapped
// block or a run of mapped blocks contiguous in the data file (one pread,
// as the kernel's bios to adjacent blocks merge below it).
func (t *thinTarget) readRun(buf []byte, off int64) (int64, error) {
	p := t.p
	bb := p.blockBytes
	vb, boff := uint64(off/bb), off%bb
	n := int64(len(buf))
	if n > bb-boff {
		n = bb - boff
	}
	p.mu.RLock()
	if p.mode == modeFail {
		p.mu.RUnlock()
		return 0, errIO("read", syscall.EIO, "pool is in fail mode")
	}
	d := p.md.devs[t.id]
	if d == nil {
		p.mu.RUnlock()
		return 0, errIO("read", syscall.EIO, "thin device is gone")
	}
	v := d.lookup(vb)
	if v == 0 {
		p.mu.RUnlock()
		return n, t.readUnmapped(vb, boff, buf[:n])
	}
	b, _ := unpackMapping(v)
	for k := uint64(1); n < int64(len(buf)); k++ {
		nv := d.lookup(vb + k)
		if nb, _ := unpackMapping(nv); nv == 0 || nb != b+k {
			break
		}
		n += min(bb, int64(len(buf))-n)
	}
	_, err := p.data.ReadAt(buf[:n], int64(b)*bb+boff)
	p.mu.RUnlock()
	return n, ioErr(err)
}

// readUnmapped returns zeros, or the external origin's data where it has
// any (beyond the origin's end reads are zeros, as the kernel fills them).
func (t *thinTarget) readUnmapped(vb uint64, boff int64, buf []byte) error {
	clear(buf)
	if t.origin == nil {
		return nil
	}
	start := int64(vb)*t.p.blockBytes + boff
	if start >= t.originSize {
		return nil
	}
	n := int64(len(buf))
	if start+n > t.originSize {
		n = t.originSize - start
	}
	return t.origin.readAt(buf[:n], start)
}

func (t *thinTarget) writeAt(buf []byte, off int64) error {
	p := t.p
	if !p.gate.enter() {
		return errIO("write", syscall.EIO, "pool is gone")
	}
	defer p.gate.leave()
	bb := p.blockBytes
	for len(buf) > 0 {
		n, err := t.writeRun(buf, off)
		if err != nil {
			return err
		}
		if n == 0 && off%bb == 0 && int64(len(buf)) >= bb {
			// Whole blocks needing new ones: provisioned as a run.
			if n, err = t.provisionRun(uint64(off/bb), buf[:int64(len(buf))/bb*bb]); err != nil {
				return err
			}
		}
		if n == 0 {
			// The first block needs provisioning or copy-on-write.
			vb, boff := uint64(off/bb), off%bb
			n = int64(len(buf))
			if n > bb-boff {
				n = bb - boff
			}
			if err := t.writeBlock(vb, boff, buf[:n]); err != nil {
				return err
			}
		}
		buf, off = buf[n:], off+n
	}
	return nil
}

// writeRun writes the longest prefix of buf that falls on mapped, unshared
// blocks contiguous in the data file with one pwrite; 0 means the first
// block needs the slow path.
func (t *thinTarget) writeRun(buf []byte, off int64) (int64, error) {
	p := t.p
	bb := p.blockBytes
	vb, boff := uint64(off/bb), off%bb
	p.mu.RLock()
	d := p.md.devs[t.id]
	if d == nil || p.mode == modeFail {
		p.mu.RUnlock()
		return 0, nil
	}
	var b uint64
	n := int64(0)
	for k := uint64(0); n < int64(len(buf)); k++ {
		v := d.lookup(vb + k)
		if v == 0 {
			break
		}
		nb, tm := unpackMapping(v)
		if d.snapTime > tm || (k > 0 && nb != b+k) {
			break
		}
		if k == 0 {
			b = nb
			n = min(bb-boff, int64(len(buf)))
		} else {
			n += min(bb, int64(len(buf))-n)
		}
	}
	if n == 0 {
		p.mu.RUnlock()
		return 0, nil
	}
	_, err := p.data.WriteAt(buf[:n], int64(b)*bb+boff)
	p.mu.RUnlock()
	return n, ioErr(err)
}

// writeBlock writes within one block, provisioning it if needed.
func (t *thinTarget) writeBlock(vb uint64, boff int64, buf []byte) error {
	for {
		n, err := t.writeRun(buf, int64(vb)*t.p.blockBytes+boff)
		if err != nil || n == int64(len(buf)) {
			return err
		}
		done, err := t.provision(vb, boff, buf)
		if done {
			return err
		}
	}
}

// provision handles a write that needs a new block: an unmapped block, or a
// block shared with a snapshot (break_sharing). done is false when the
// caller should retry from the lookup.
func (t *thinTarget) provision(vb uint64, boff int64, buf []byte) (done bool, err error) {
	p := t.p
	p.mu.Lock()
	md := p.md
	d := md.devs[t.id]
	if d == nil || p.mode == modeFail {
		p.mu.Unlock()
		return true, errIO("write", syscall.EIO, "thin device unavailable")
	}
	key := pendKey{t.id, vb}
	if ch := p.pending[key]; ch != nil {
		p.mu.Unlock()
		<-ch
		return false, nil
	}
	old := d.lookup(vb)
	if old != 0 {
		if _, tm := unpackMapping(old); d.snapTime <= tm {
			p.mu.Unlock()
			return false, nil
		}
	}
	if p.mode != modeWrite {
		errno := p.unserviceable()
		if errno != 0 {
			p.mu.Unlock()
			return true, errIO("write", errno, "pool cannot provision: "+p.mode.String())
		}
		ch := p.spaceCh
		p.mu.Unlock()
		<-ch
		return false, nil
	}
	nb, err := p.allocBlock()
	if err != nil {
		p.mu.Unlock()
		if errors.Is(err, errNoDataSpace) {
			return false, nil // the mode changed; re-evaluate
		}
		return true, errIO("write", syscall.EIO, err.Error())
	}
	ch := make(chan struct{})
	p.pending[key] = ch
	zero := p.pf.zeroNewBlocks
	p.mu.Unlock()

	ioerr := t.fill(vb, nb, old, boff, buf, zero)

	p.mu.Lock()
	delete(p.pending, key)
	close(ch)
	defer p.mu.Unlock()
	if p.md != md {
		// The transaction was aborted under us: the block belongs to
		// nothing any more.
		return true, errIO("write", syscall.EIO, "metadata transaction aborted")
	}
	if ioerr == nil && p.mode >= modeOutOfMetadataSpace {
		ioerr = errIO("write", syscall.EIO, "pool became read-only")
	}
	if ioerr != nil {
		md.dec(nb)
		return true, ioerr
	}
	chunks := md.liveChunks
	md.setMapping(d, vb, nb, md.time)
	if md.liveChunks != chunks && md.metaFree() == 0 {
		// Commit before the metadata reserve is used (alloc_data_block).
		p.commit()
	}
	return true, nil
}

// allocBlock is alloc_data_block. Caller holds p.mu.
func (p *pool) allocBlock() (uint64, error) {
	md := p.md
	p.checkLowWater(md.freeDataBlocks())
	if md.allocatableBlocks() == 0 {
		// A commit may release blocks freed in this transaction.
		if err := p.commit(); err != nil {
			return 0, err
		}
		if p.md != md {
			return 0, errCommitRefused
		}
		if md.freeDataBlocks() == 0 {
			p.setMode(modeOutOfDataSpace)
			return 0, errNoDataSpace
		}
	}
	b, err := md.alloc()
	if err != nil {
		p.setMode(modeOutOfDataSpace)
		return 0, err
	}
	return b, nil
}

// fill writes the new block nb: the caller's data, plus for a partial write
// the old block's contents (breaking sharing), the external origin's, or
// zeros (unless skip_block_zeroing).
func (t *thinTarget) fill(vb, nb uint64, old uint64, boff int64, buf []byte, zero bool) error {
	p := t.p
	bb := p.blockBytes
	dst := int64(nb) * bb
	if boff == 0 && int64(len(buf)) == bb {
		_, err := p.data.WriteAt(buf, dst)
		return ioErr(err)
	}
	switch {
	case old != 0:
		ob, _ := unpackMapping(old)
		if err := p.copyData(int64(ob)*bb, dst, bb); err != nil {
			return err
		}
	case t.origin != nil && int64(vb)*bb < t.originSize:
		if err := t.copyFromOrigin(vb, dst); err != nil {
			return err
		}
	case zero:
		return p.writeZeroFilled(dst, boff, buf)
	}
	_, err := p.data.WriteAt(buf, dst+boff)
	return ioErr(err)
}

// writeZeroFilled writes buf at boff into the new block at dst, with the
// rest of the block zeros. Where the data file already reads as zeros
// there (a hole or an unwritten extent of a sparse or preallocated file)
// only buf is written; otherwise zeros and buf go down as one write of
// the whole block, as a block device would get them. Punching a hole
// instead would make the file system free and reallocate the block on
// every reuse, which costs far more than writing it.
func (p *pool) writeZeroFilled(dst, boff int64, buf []byte) error {
	bb := p.blockBytes
	if p.readsAsZeros(dst, bb) {
		_, err := p.data.WriteAt(buf, dst+boff)
		return ioErr(err)
	}
	blk := p.getBuf()
	defer p.putBuf(blk)
	clear(blk[:boff])
	copy(blk[boff:], buf)
	clear(blk[boff+int64(len(buf)):])
	_, err := p.data.WriteAt(blk[:bb], dst)
	return ioErr(err)
}

// readsAsZeros reports whether the data file holds no data in [off,
// off+n): SEEK_DATA finds the next byte that is neither a hole nor an
// unwritten extent without dirty pages. Any doubt answers false.
func (p *pool) readsAsZeros(off, n int64) bool {
	next, err := unix.Seek(p.dataFd, off, unix.SEEK_DATA)
	if err == unix.ENXIO {
		return true
	}
	return err == nil && next >= off+n
}

// copyData copies n bytes inside the data file (kcopyd's job).
func (p *pool) copyData(src, dst, n int64) error {
	p.copies.Add(1)
	for n > 0 {
		so, do := src, dst
		c, err := unix.CopyFileRange(p.dataFd, &so, p.dataFd, &do, int(n), 0)
		if err != nil || c <= 0 {
			return p.copyDataSlow(src, dst, n)
		}
		src, dst, n = src+int64(c), dst+int64(c), n-int64(c)
	}
	return nil
}

func (p *pool) copyDataSlow(src, dst, n int64) error {
	buf := p.getBuf()
	defer p.putBuf(buf)
	for n > 0 {
		c := int64(len(buf))
		if c > n {
			c = n
		}
		if _, err := p.data.ReadAt(buf[:c], src); err != nil {
			return ioErr(err)
		}
		if _, err := p.data.WriteAt(buf[:c], dst); err != nil {
			return ioErr(err)
		}
		src, dst, n = src+c, dst+c, n-c
	}
	return nil
}

func (t *thinTarget) copyFromOrigin(vb uint64, dst int64) error {
	p := t.p
	bb := p.blockBytes
	buf := p.getBuf()
	defer p.putBuf(buf)
	for o := int64(0); o < bb; o += int64(len(buf)) {
		c := int64(len(buf))
		if c > bb-o {
			c = bb - o
		}
		if err := t.readUnmapped(vb, o, buf[:c]); err != nil {
			return err
		}
		if _, err := p.data.WriteAt(buf[:c], dst+o); err != nil {
			return ioErr(err)
		}
	}
	return nil
}

// discard unmaps the whole pool blocks inside [off, off+length); partial
// blocks at either end are left alone. A pool with ignore_discard does not
// support discards at all (the thin device has no discard limits, so the
// kernel's BLKDISCARD answers EOPNOTSUPP); a read-only pool completes them
// without unmapping anything.
func (t *thinTarget) discard(off, length int64) error {
	p := t.p
	if !p.gate.enter() {
		return errIO("discard", syscall.EIO, "pool is gone")
	}
	defer p.gate.leave()
	bb := p.blockBytes
	first := uint64((off + bb - 1) / bb)
	end := uint64((off + length) / bb)
	for {
		p.mu.Lock()
		if !p.pf.discardEnabled {
			p.mu.Unlock()
			return errIO("discard", syscall.EOPNOTSUPP, "discard is disabled on this pool")
		}
		if p.mode >= modeOutOfMetadataSpace {
			p.mu.Unlock()
			if p.mode == modeFail {
				return errIO("discard", syscall.EIO, "pool is in fail mode")
			}
			return nil
		}
		var wait chan struct{}
		for k, ch := range p.pending {
			if k.dev == t.id && k.vb >= first && k.vb < end {
				wait = ch
				break
			}
		}
		if wait != nil {
			p.mu.Unlock()
			<-wait
			continue
		}
		md := p.md
		d := md.devs[t.id]
		if d == nil {
			p.mu.Unlock()
			return errIO("discard", syscall.EIO, "thin device is gone")
		}
		var freed []uint64
		passdown := p.pf.discardPassdown
		for ci := first >> chunkShift; ci<<chunkShift < end; ci++ {
			c := d.chunks[ci]
			if c == nil {
				continue
			}
			for i := 0; i < chunkSize; i++ {
				vb := ci<<chunkShift + uint64(i)
				if vb < first || vb >= end || c.e[i] == 0 {
					continue
				}
				b, _ := unpackMapping(c.e[i])
				md.removeMapping(d, vb)
				c = d.chunks[ci]
				if passdown && md.refs[b] == 0 {
					freed = append(freed, b)
				}
				if c == nil {
					break
				}
			}
			if ci<<chunkShift+chunkSize >= end {
				break
			}
		}
		// Passdown: the data device forgets blocks no mapping uses any
		// more (they are not reused before the next commit).
		for _, b := range freed {
			unix.Fallocate(p.dataFd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(b)*bb, bb)
		}
		p.mu.Unlock()
		return nil
	}
}

// flush is a REQ_PREFLUSH on the thin device: the pool commits. In a
// read-only mode commit() refuses and the flush fails with EIO, as the
// kernel errors the deferred flush bios.
func (t *thinTarget) flush() error {
	p := t.p
	if !p.gate.enter() {
		return errIO("flush", syscall.EIO, "pool is gone")
	}
	defer p.gate.leave()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode >= modeOutOfMetadataSpace {
		return errIO("flush", syscall.EIO, "pool is read-only")
	}
	if len(p.md.jr) == 0 {
		return ioErr(unix.Fdatasync(p.dataFd))
	}
	if err := p.commit(); err != nil {
		return errIO("flush", syscall.EIO, err.Error())
	}
	return nil
}
