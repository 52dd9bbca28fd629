package emu

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/thinraft/thinraft/dm"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// poolTarget is one thin-pool table line (the kernel's struct pool_c).
type poolTarget struct {
	e         *Engine
	p         *pool
	owner     *device
	metaRef   string
	dataRef   string
	length    uint64 // sectors
	lowWater  uint64
	requested features
	adjusted  features
	params0   dm.ThinPoolParams
	dead      bool
}

func featuresOf(f dm.PoolFeatures) features {
	pf := defaultFeatures()
	pf.zeroNewBlocks = !f.SkipBlockZeroing
	pf.discardEnabled = !f.IgnoreDiscard
	pf.discardPassdown = !f.NoDiscardPassdown
	if f.ReadOnly {
		pf.mode = modeReadOnly
	}
	pf.errorIfNoSpace = f.ErrorIfNoSpace
	return pf
}

func (e *Engine) newPoolTarget(owner *device, t *tableInst, tg dm.Target) (target, error) {
	inval := func(detail string) error {
		return errf("load", owner.name, tg.Params, dm.ErrInvalidTable, syscall.EINVAL, "thin-pool: %s", detail)
	}
	f := strings.Fields(tg.Params)
	if len(f) < 4 {
		return nil, inval("Invalid argument count")
	}
	params, perr := dm.ParseThinPoolParams(tg.Params)
	if perr != nil && !strings.Contains(perr.Error(), "block size") && !strings.Contains(perr.Error(), "low water") {
		return nil, inval(strings.TrimPrefix(perr.Error(), "thin-pool: "))
	}
	// The kernel opens both devices before it checks the block size.
	metaPath, dataPath := e.resolvePath(f[0]), e.resolvePath(f[1])
	if e.resolveDevice(f[0]) != nil || e.resolveDevice(f[1]) != nil {
		return nil, errf("load", owner.name, tg.Params, dm.ErrInvalidTable, syscall.EINVAL,
			"thin-pool: the engine backs pool metadata and data with files, not devices")
	}
	for _, pth := range []string{metaPath, dataPath} {
		st, err := os.Stat(pth)
		if err != nil || !st.Mode().IsRegular() {
			return nil, errf("load", owner.name, tg.Params, dm.ErrInvalidTable, syscall.ENODEV,
				"thin-pool: Error opening metadata block device")
		}
	}
	if perr != nil {
		return nil, inval(strings.TrimPrefix(perr.Error(), "thin-pool: "))
	}
	dst, err := os.Stat(dataPath)
	if err != nil {
		return nil, errf("load", owner.name, tg.Params, dm.ErrInvalidTable, syscall.ENODEV, "thin-pool: Error getting data device")
	}
	if tg.Length*dm.SectorSize > uint64(dst.Size()) {
		return nil, errf("load", owner.name, tg.Params, dm.ErrInvalidTable, syscall.EINVAL,
			"thin-pool: data device %s too small for target: len=%d, dev_size=%d", f[1], tg.Length, dst.Size()/dm.SectorSize)
	}
	pf := featuresOf(params.Features)
	p, created, err := e.findPool(owner, metaPath, dataPath, params, pf.mode == modeReadOnly)
	if err != nil {
		return nil, err
	}
	if !created && pf.discardEnabled != p.pf.discardEnabled {
		e.poolDec(p)
		return nil, inval("Discard support cannot be disabled once enabled")
	}
	pt := &poolTarget{e: e, p: p, owner: owner, metaRef: f[0], dataRef: f[1], length: tg.Length,
		lowWater: params.LowWaterMark, requested: pf, adjusted: pf, params0: params}
	return pt, nil
}

// findPool is __pool_find: the pool object keyed by metadata file.
func (e *Engine) findPool(owner *device, metaPath, dataPath string, params dm.ThinPoolParams, readOnly bool) (*pool, bool, error) {
	busy := func(detail string) error {
		return errf("load", owner.name, params.String(), dm.ErrInvalidTable, syscall.EBUSY, "thin-pool: %s", detail)
	}
	if p := e.pools[metaPath]; p != nil {
		if p.owner != owner {
			return nil, false, busy("metadata device already in use by a pool")
		}
		if p.dataPath != dataPath {
			return nil, false, busy("data device already in use by a pool")
		}
		p.refs++
		return p, false, nil
	}
	for _, p := range e.pools {
		if p.dataPath == dataPath {
			return nil, false, busy("data device already in use by a pool")
		}
		if p.owner == owner {
			return nil, false, errf("load", owner.name, params.String(), dm.ErrInvalidTable, syscall.EINVAL,
				"thin-pool: different pool cannot replace a pool")
		}
	}
	p, err := e.createPool(owner, metaPath, dataPath, params, readOnly)
	if err != nil {
		return nil, false, err
	}
	return p, true, nil
}

// createPool is pool_create + dm_pool_metadata_open: open or format the
// metadata and open the data file.
func (e *Engine) createPool(owner *device, metaPath, dataPath string, params dm.ThinPoolParams, readOnly bool) (*pool, error) {
	fail := func(errno syscall.Errno, detail string, a ...any) error {
		return errf("load", owner.name, params.String(), dm.ErrInvalidTable, errno, "thin-pool: Error creating metadata object: "+detail, a...)
	}
	st, md, err := openStore(metaPath, false, false)
	switch {
	case errors.Is(err, errUnformatted):
		if readOnly {
			return nil, fail(syscall.EPERM, "metadata is not formatted and the pool is read-only")
		}
		f, ferr := os.OpenFile(metaPath, os.O_RDWR, 0)
		if ferr != nil {
			return nil, fail(syscall.ENODEV, "%v", ferr)
		}
		n, _ := fileBlocks(f)
		if n > maxMetadataBlocks {
			n = maxMetadataBlocks
		}
		md = newMeta(uint32(params.DataBlockSectors), n)
		st, err = formatStore(f, md)
		if err != nil {
			f.Close()
			return nil, fail(syscall.EINVAL, "format: %v", err)
		}
		md.startLogging()
	case errors.Is(err, errBadSuperblock):
		return nil, fail(syscall.ENOTBLK, "superblock validator check failed for block 0")
	case err != nil:
		return nil, fail(syscall.EILSEQ, "%v", err)
	}
	if uint64(md.dataBlockSectors) != params.DataBlockSectors {
		st.close()
		return nil, fail(syscall.EINVAL, "changing the data block size (from %d to %d) is not supported",
			md.dataBlockSectors, params.DataBlockSectors)
	}
	data, err := os.OpenFile(dataPath, os.O_RDWR, 0)
	if err != nil {
		st.close()
		return nil, fail(syscall.ENODEV, "%v", err)
	}
	p := &pool{e: e, key: metaPath, metaPath: metaPath, dataPath: dataPath, owner: owner, md: md, st: st,
		data: data, dataFd: int(data.Fd()), blockSectors: params.DataBlockSectors,
		blockBytes: int64(params.DataBlockSectors) * dm.SectorSize, pf: defaultFeatures(), refs: 1,
		openIDs: map[uint32]int{}, pending: map[pendKey]chan struct{}{}, spaceCh: make(chan struct{}),
		gate: newGate(), suspended: true, lastCommit: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	p.gate.close(false)
	if md.needsCheck {
		p.mode = modeReadOnly
	}
	e.pools[metaPath] = p
	go p.ticker(e.period)
	return p, nil
}

// poolDec drops a reference; the last one closes the pool (committing).
func (e *Engine) poolDec(p *pool) {
	p.refs--
	if p.refs == 0 {
		delete(e.pools, p.key)
		p.shutdown(true)
	}
}

func (pt *poolTarget) kind() string { return dm.TargetThinPool }

func (pt *poolTarget) params() string {
	q := pt.params0
	q.MetadataDev, q.DataDev = pt.metaRef, pt.dataRef
	// emit_flags reports the adjusted features (read_only follows the mode).
	q.Features = dm.PoolFeatures{SkipBlockZeroing: !pt.adjusted.zeroNewBlocks, IgnoreDiscard: !pt.adjusted.discardEnabled,
		NoDiscardPassdown: !pt.adjusted.discardPassdown, ReadOnly: pt.adjusted.mode == modeReadOnly,
		ErrorIfNoSpace: pt.adjusted.errorIfNoSpace}
	return q.String()
}

func (pt *poolTarget) status(noFlush, suspended bool) string {
	return pt.p.statusLine(noFlush, suspended)
}

// IO to the pool device itself goes to the data device (pool_map).
func (pt *poolTarget) readAt(b []byte, off int64) error {
	_, err := pt.p.data.ReadAt(b, off)
	return ioErr(err)
}

func (pt *poolTarget) writeAt(b []byte, off int64) error {
	_, err := pt.p.data.WriteAt(b, off)
	return ioErr(err)
}

func (pt *poolTarget) discard(off, n int64) error { return nil }
func (pt *poolTarget) flush() error {
	return ioErr(pt.p.data.Sync())
}

// presuspend is pool_presuspend: the pool stops and its thins' IO queues.
func (pt *poolTarget) presuspend(noFlush bool) {
	p := pt.p
	p.mu.Lock()
	p.suspended = true
	p.mu.Unlock()
	p.gate.close(false)
}

// postsuspend is pool_postsuspend: commit.
func (pt *poolTarget) postsuspend(noFlush bool) {
	p := pt.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.commit()
}

// preresume is pool_preresume: bind this table to the pool, then grow the
// data and metadata devices to what the table and files now say.
func (pt *poolTarget) preresume() error {
	p := pt.p
	p.mu.Lock()
	defer p.mu.Unlock()
	// bind_control_target
	newMode := pt.adjusted.mode
	pt.adjusted.mode = p.mode
	p.ti = pt
	p.owner = pt.owner
	p.pf = pt.adjusted
	p.lowWater = pt.lowWater
	p.setMode(newMode)

	needCommit := false
	dataBlocks := pt.length / p.blockSectors
	switch {
	case dataBlocks < p.md.nrDataBlocks:
		p.logf("err", "pool target (%d blocks) too small: expected %d", dataBlocks, p.md.nrDataBlocks)
		return p.preresumeErr(errf("resume", "", "", dm.ErrPoolTooSmall, syscall.EINVAL,
			"pool target (%d blocks) too small: expected %d", dataBlocks, p.md.nrDataBlocks))
	case dataBlocks > p.md.nrDataBlocks:
		if p.md.needsCheck {
			p.logf("err", "unable to grow the data device until repaired.")
		} else {
			p.md.resizeData(dataBlocks)
			needCommit = true
		}
	}
	n, err := fileBlocks(p.st.f)
	if err != nil {
		return p.preresumeErr(errf("resume", "", "", nil, syscall.EIO, "failed to retrieve metadata device size: %v", err))
	}
	if n > maxMetadataBlocks {
		n = maxMetadataBlocks
	}
	switch {
	case n < p.md.metaBlocks:
		p.logf("err", "metadata device (%d blocks) too small: expected %d", n, p.md.metaBlocks)
		return p.preresumeErr(errf("resume", "", "", nil, syscall.EINVAL,
			"metadata device (%d blocks) too small: expected %d", n, p.md.metaBlocks))
	case n > p.md.metaBlocks:
		if p.md.needsCheck {
			p.logf("err", "unable to grow the metadata device until repaired.")
		} else {
			if p.mode == modeOutOfMetadataSpace {
				p.setMode(modeWrite)
			}
			p.md.resizeMeta(n)
			p.st.setSize(n)
			needCommit = true
		}
	}
	if needCommit {
		p.commit()
	}
	return nil
}

func (p *pool) preresumeErr(err error) error {
	if p.mode == modeFail {
		return nil
	}
	return err
}

// resume is pool_resume: requeue waiting writes and start the pool.
func (pt *poolTarget) resume() {
	p := pt.p
	p.mu.Lock()
	p.lowTriggered = false
	p.suspended = false
	p.wakeSpace()
	p.mu.Unlock()
	p.gate.open()
}

func (pt *poolTarget) destroy() {
	if pt.dead {
		return
	}
	pt.dead = true
	p := pt.p
	p.mu.Lock()
	if p.ti == pt {
		p.ti = nil
	}
	p.mu.Unlock()
	pt.e.poolDec(p)
}
