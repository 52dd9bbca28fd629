package emu

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

// poolMode mirrors the kernel's enum pool_mode, in its order: the
// comparisons ">= modeOutOfMetadataSpace" mean "read-only or worse".
type poolMode int

const (
	modeWrite poolMode = iota
	modeOutOfDataSpace
	modeOutOfMetadataSpace
	modeReadOnly
	modeFail
)

func (m poolMode) String() string {
	switch m {
	case modeWrite:
		return "write"
	case modeOutOfDataSpace:
		return "out-of-data-space"
	case modeOutOfMetadataSpace:
		return "out-of-metadata-space"
	case modeReadOnly:
		return "read-only"
	default:
		return "fail"
	}
}

// features are a pool's feature flags (struct pool_features).
type features struct {
	mode            poolMode
	zeroNewBlocks   bool
	discardEnabled  bool
	discardPassdown bool
	errorIfNoSpace  bool
}

func defaultFeatures() features {
	return features{mode: modeWrite, zeroNewBlocks: true, discardEnabled: true, discardPassdown: true}
}

type pendKey struct {
	dev uint32
	vb  uint64
}

// pool is the kernel's struct pool: the state shared by every table that
// names the same metadata device, outliving table reloads. mu guards the
// metadata (md), the mode and the flags; data IO to mapped, unshared
// blocks runs under mu.RLock only.
type pool struct {
	e        *Engine
	key      string
	metaPath string
	dataPath string
	owner    *device // the pool's mapped device (pool_md)
	gate     *gate   // closed while the pool is suspended: thin IO waits

	mu sync.RWMutex
	// heldRead is read-held by readers of the held root, which read its
	// blocks from the file without mu (dump.go); release_metadata_snap,
	// the only thing that frees those blocks, takes it for writing.
	heldRead      sync.RWMutex
	md            *meta
	st            *store
	data          *os.File
	dataFd        int
	blockBytes    int64
	blockSectors  uint64
	mode          poolMode
	pf            features
	ti            *poolTarget // bound control target
	lowWater      uint64
	lowTriggered  bool
	metaTriggered bool
	suspended     bool
	refs          int
	openIDs       map[uint32]int
	pending       map[pendKey]chan struct{}
	spaceCh       chan struct{}
	noSpaceTimer  *time.Timer
	lastCommit    time.Time
	closing       bool
	stop          chan struct{}
	done          chan struct{}
	bufPool       sync.Pool
	// copies counts blocks copied for copy-on-write: a write covering a
	// whole shared block must not add to it (tests hold the engine to the
	// kernel's io_overwrites_block remap).
	copies atomic.Uint64
}

func (p *pool) logf(level string, format string, args ...any) {
	name := ""
	if p.owner != nil {
		name = p.owner.name
	}
	msg := name + ": " + sprintf(format, args...)
	switch level {
	case "err":
		p.e.log.Error(msg, "target", "thin-pool")
	case "warn":
		p.e.log.Warn(msg, "target", "thin-pool")
	default:
		p.e.log.Info(msg, "target", "thin-pool")
	}
}

// event raises a dm event on the pool's device.
func (p *pool) event() {
	if p.owner != nil {
		p.owner.event()
	}
}

// wakeSpace wakes writers waiting for data space to re-check.
func (p *pool) wakeSpace() {
	close(p.spaceCh)
	p.spaceCh = make(chan struct{})
}

// setMode is set_pool_mode. Caller holds mu.
func (p *pool) setMode(n poolMode) {
	old := p.mode
	if n == modeWrite && p.md.needsCheck {
		p.logf("err", "unable to switch pool to write mode until repaired.")
		if old != n {
			n = old
		} else {
			n = modeReadOnly
		}
	}
	if old == modeFail {
		n = old
	}
	switch n {
	case modeOutOfDataSpace:
		if !p.pf.errorIfNoSpace {
			if t := p.e.noSpaceTimeout(); t > 0 && p.noSpaceTimer == nil {
				p.noSpaceTimer = time.AfterFunc(t, p.noSpaceTimeout)
			}
		}
	case modeWrite:
		if p.noSpaceTimer != nil {
			p.noSpaceTimer.Stop()
			p.noSpaceTimer = nil
		}
		if p.ti != nil {
			p.pf.errorIfNoSpace = p.ti.requested.errorIfNoSpace
		}
	}
	if n != modeOutOfDataSpace && p.noSpaceTimer != nil {
		p.noSpaceTimer.Stop()
		p.noSpaceTimer = nil
	}
	p.mode = n
	if p.ti != nil {
		p.ti.adjusted.mode = n
	}
	if old != n {
		p.logf("warn", "switching pool to %s mode", n)
		p.event()
	}
	p.wakeSpace()
}

// noSpaceTimeout is do_no_space_timeout: queued writes start failing.
func (p *pool) noSpaceTimeout() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noSpaceTimer = nil
	if p.mode == modeOutOfDataSpace && !p.pf.errorIfNoSpace && !p.closing {
		p.pf.errorIfNoSpace = true
		p.event()
		p.wakeSpace()
	}
}

// errCommitRefused is commit()'s -EINVAL in read-only modes.
var errCommitRefused = errors.New("pool is read-only: no commit")

// commit is the kernel's commit(pool): flush data, then make the metadata
// transaction durable; a failure aborts the transaction, sets needs_check
// and drops the pool to read-only. Caller holds mu.
func (p *pool) commit() error {
	if p.mode >= modeOutOfMetadataSpace {
		return errCommitRefused
	}
	if err := p.commitMeta(); err != nil {
		p.metadataOperationFailed("dm_pool_commit_metadata", err)
		return err
	}
	p.checkMetadataSpace()
	p.checkDataSpace()
	return nil
}

func (p *pool) commitMeta() error {
	if len(p.md.jr) == 0 && p.md.needsCheck == p.st.sb.needsCheck {
		p.lastCommit = time.Now()
		return nil
	}
	// The data written into new blocks must be durable before the
	// mappings that expose it (metadata_pre_commit_callback).
	if err := unix.Fdatasync(p.dataFd); err != nil {
		return err
	}
	if err := p.st.commit(p.md); err != nil {
		return err
	}
	p.md.committed()
	p.lastCommit = time.Now()
	return nil
}

// metadataOperationFailed aborts to the last commit, persists needs_check
// and makes the pool read-only (metadata_operation_failed).
func (p *pool) metadataOperationFailed(op string, err error) {
	p.logf("err", "metadata operation '%s' failed: error = %v", op, err)
	p.logf("err", "aborting current metadata transaction")
	if aerr := p.abort(); aerr != nil {
		p.logf("err", "failed to abort metadata transaction: %v", aerr)
		p.setMode(modeFail)
		return
	}
	p.md.needsCheck = true
	if serr := p.st.setNeedsCheck(); serr != nil {
		p.logf("err", "failed to set 'needs_check' flag in metadata: %v", serr)
		p.setMode(modeFail)
		return
	}
	p.setMode(modeReadOnly)
}

// abort reloads the last committed metadata (dm_pool_abort_metadata).
func (p *pool) abort() error {
	st, md, err := openStore(p.metaPath, false, false)
	if err != nil {
		return err
	}
	p.st.close()
	p.st, p.md = st, md
	return nil
}

// checkMetadataSpace is check_for_metadata_space.
func (p *pool) checkMetadataSpace() {
	if p.md.metaFree() == 0 && p.mode < modeOutOfMetadataSpace {
		p.logf("err", "No free metadata blocks")
		p.setMode(modeOutOfMetadataSpace)
	}
	p.checkMetaThreshold()
}

// checkMetaThreshold raises the metadata low-water event once per crossing.
func (p *pool) checkMetaThreshold() {
	if p.ti == nil {
		return
	}
	th := metaThreshold(p.md.metaBlocks)
	if p.md.metaRawFree() < th {
		if !p.metaTriggered {
			p.metaTriggered = true
			p.logf("warn", "reached low water mark for metadata device: sending event.")
			p.event()
		}
	} else {
		p.metaTriggered = false
	}
}

// checkDataSpace is check_for_data_space.
func (p *pool) checkDataSpace() {
	if p.mode != modeOutOfDataSpace {
		return
	}
	if p.md.freeDataBlocks() > 0 {
		p.setMode(modeWrite)
	}
}

// checkLowWater is check_low_water_mark, called before each allocation.
func (p *pool) checkLowWater(free uint64) {
	if free <= p.lowWater && !p.lowTriggered {
		p.logf("warn", "reached low water mark for data device: sending event.")
		p.lowTriggered = true
		p.event()
	}
}

// ioError is the errno an unserviceable write gets in the current mode
// (should_error_unserviceable_bio); 0 means "queue it".
func (p *pool) unserviceable() syscall.Errno {
	switch p.mode {
	case modeOutOfDataSpace:
		if p.pf.errorIfNoSpace || p.closing {
			return syscall.ENOSPC
		}
		return 0
	default:
		return syscall.EIO
	}
}

// ticker is do_waker: commit every period while the pool runs.
func (p *pool) ticker(period time.Duration) {
	defer close(p.done)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if !p.suspended && !p.closing && p.mode < modeOutOfMetadataSpace &&
				(p.md.dirty || len(p.md.jr) > 0 || p.mode == modeOutOfDataSpace) &&
				time.Since(p.lastCommit) >= period/2 {
				p.commit()
			}
			p.mu.Unlock()
		}
	}
}

// shutdown stops the pool; with commit it commits first (deactivation),
// without it drops everything (crash).
func (p *pool) shutdown(commit bool) {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return
	}
	if commit && p.mode < modeOutOfMetadataSpace {
		p.commit()
	}
	p.closing = true
	if p.noSpaceTimer != nil {
		p.noSpaceTimer.Stop()
		p.noSpaceTimer = nil
	}
	p.wakeSpace()
	p.mu.Unlock()
	p.gate.kill()
	close(p.stop)
	<-p.done
	p.mu.Lock()
	p.st.close()
	p.data.Close()
	p.mu.Unlock()
}

func (p *pool) getBuf() []byte {
	if b, ok := p.bufPool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, p.blockBytes)
}

func (p *pool) putBuf(b []byte) { p.bufPool.Put(&b) }

// status formats the pool's status line (pool_status).
func (p *pool) statusLine(noFlush, suspended bool) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == modeFail {
		return dm.PoolStatus{Mode: dm.ModeFail}.String()
	}
	if !noFlush && !suspended {
		p.commit()
	}
	if p.mode == modeFail {
		return dm.PoolStatus{Mode: dm.ModeFail}.String()
	}
	md := p.md
	s := dm.PoolStatus{
		TransactionID:   md.txn,
		TotalMetaBlocks: md.metaBlocks,
		UsedMetaBlocks:  md.metaBlocks - md.metaFree(),
		TotalDataBlocks: md.nrDataBlocks,
		UsedDataBlocks:  md.allocated,
		ErrorIfNoSpace:  p.pf.errorIfNoSpace,
		NeedsCheck:      md.needsCheck,
		MetaLowWater:    metaThreshold(md.metaBlocks),
	}
	if md.heldRoot != 0 {
		s.HasHeldRoot, s.HeldRoot = true, md.heldRoot
	}
	switch p.mode {
	case modeOutOfDataSpace:
		s.Mode = dm.ModeOutOfDataSpace
	case modeWrite:
		s.Mode = dm.ModeRW
	default:
		s.Mode = dm.ModeRO
	}
	switch {
	case !p.pf.discardEnabled:
		s.Discard = dm.DiscardIgnore
	case p.pf.discardPassdown:
		s.Discard = dm.DiscardPassdown
	default:
		s.Discard = dm.DiscardNoPassdown
	}
	return s.String()
}
