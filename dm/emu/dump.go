package emu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"

	"github.com/thinraft/thinraft/dm"
)

// thin_dump's superblock version and the needs_check flag bit.
const (
	dumpVersion       = 2
	dumpFlagNeedCheck = 1
)

// DumpMetadata reads the committed metadata in metaPath (an inactive
// pool's metadata file, like thin_dump on a metadata device). With
// useMetadataSnap it reads the held metadata root instead (thin_dump -m).
func DumpMetadata(metaPath string, useMetadataSnap bool) (*dm.MetadataDump, error) {
	st, md, err := openStore(metaPath, true, useMetadataSnap)
	if err != nil {
		return nil, fmt.Errorf("emu: dump %s: %w", metaPath, err)
	}
	defer st.close()
	return dumpFile(md, useMetadataSnap, st.sb.needsCheck), nil
}

func dumpFile(md *meta, held, needsCheck bool) *dm.MetadataDump {
	d := dumpOf(md)
	if held {
		// The held view's own superblock has no held root.
		d.MetadataSnap = 0
	}
	d.Flags = 0
	if needsCheck {
		d.Flags = dumpFlagNeedCheck
	}
	return d
}

// dumpHeld reads the held root that sb (an active pool's superblock) names.
// The caller holds the pool's heldRead, so the blocks stay as they are.
func dumpHeld(metaPath string, sb superblock) (*dm.MetadataDump, error) {
	if sb.held == 0 {
		return nil, fmt.Errorf("emu: dump %s: %w", metaPath, errNoHeld)
	}
	f, err := os.Open(metaPath)
	if err != nil {
		return nil, fmt.Errorf("emu: dump %s: %w", metaPath, err)
	}
	defer f.Close()
	n, err := fileBlocks(f)
	if err != nil {
		return nil, fmt.Errorf("emu: dump %s: %w", metaPath, err)
	}
	s := &store{f: f, sb: sb}
	s.setSize(n)
	hm, _, err := s.readHeld()
	if err != nil {
		return nil, fmt.Errorf("emu: dump %s: %w", metaPath, err)
	}
	return dumpFile(hm, true, sb.needsCheck), nil
}

// DumpMetadata is DumpMetadata(metaPath, false) for a pool this engine may
// have active: the committed state is read while the pool cannot commit.
func (e *Engine) DumpMetadata(metaPath string) (*dm.MetadataDump, error) {
	return e.dumpPath(e.resolvePath(metaPath), false)
}

func (e *Engine) dumpPath(path string, snap bool) (*dm.MetadataDump, error) {
	e.mu.Lock()
	p := e.pools[path]
	if p != nil {
		p.mu.Lock()
	}
	e.mu.Unlock()
	if p == nil {
		return DumpMetadata(path, snap)
	}
	if !snap || p.st == nil {
		defer p.mu.Unlock()
		return DumpMetadata(path, snap)
	}
	// The held root cannot change until release_metadata_snap, which waits
	// for heldRead: read it without holding up the pool's IO and commits
	// (at 33,000 devices decoding it and replaying its journal takes tens
	// of milliseconds, every time the agent reports usage).
	sb := p.st.sb
	p.heldRead.RLock()
	p.mu.Unlock()
	defer p.heldRead.RUnlock()
	return dumpHeld(path, sb)
}

// DumpPool dumps the committed metadata of the active pool device name
// (or its held root with useMetadataSnap), like thin_dump on the live
// metadata device.
func (e *Engine) DumpPool(name string, useMetadataSnap bool) (*dm.MetadataDump, error) {
	e.mu.Lock()
	var path string
	for _, p := range e.pools {
		if p.owner != nil && p.owner.name == name {
			path = p.metaPath
		}
	}
	e.mu.Unlock()
	if path == "" {
		return nil, notFound("dump", name)
	}
	d, err := e.dumpPath(path, useMetadataSnap)
	if errors.Is(err, errNoHeld) {
		return nil, errf("dump", name, "", dm.ErrNoMetadataSnap, syscall.EINVAL, "no metadata snapshot held")
	}
	return d, err
}

func dumpOf(md *meta) *dm.MetadataDump {
	d := &dm.MetadataDump{Time: md.time, Transaction: md.txn, Version: dumpVersion,
		DataBlockSectors: md.dataBlockSectors, NrDataBlocks: md.nrDataBlocks, MetadataSnap: md.heldRoot}
	ids := make([]uint32, 0, len(md.devs))
	for id := range md.devs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// Sized up front: a pool of 33,000 devices grew this slice through
	// sixteen doublings on every usage report.
	d.Devices = make([]dm.DeviceDump, 0, len(ids))
	for _, id := range ids {
		td := md.devs[id]
		dd := dm.DeviceDump{ID: id, MappedBlocks: td.mapped, Transaction: td.transaction,
			CreationTime: td.creationTime, SnapTime: td.snapTime}
		var run *dm.Mapping
		for _, ci := range td.sortedChunks() {
			c := td.chunks[ci]
			for i, v := range c.e {
				if v == 0 {
					continue
				}
				vb := ci<<chunkShift + uint64(i)
				b, t := unpackMapping(v)
				if run != nil && run.Time == t && run.OriginBlock+run.Length == vb && run.DataBlock+run.Length == b {
					run.Length++
					continue
				}
				dd.Mappings = append(dd.Mappings, dm.Mapping{OriginBlock: vb, DataBlock: b, Length: 1, Time: t})
				run = &dd.Mappings[len(dd.Mappings)-1]
			}
		}
		d.Devices = append(d.Devices, dd)
	}
	return d
}

// RestoreMetadata formats metaPath with the content of d (thin_restore).
// The file keeps its size; it must not belong to an active pool.
func RestoreMetadata(metaPath string, d *dm.MetadataDump) error {
	if d.DataBlockSectors < dm.MinDataBlockSectors || d.DataBlockSectors > dm.MaxDataBlockSectors ||
		d.DataBlockSectors%dm.MinDataBlockSectors != 0 {
		return fmt.Errorf("emu: restore: invalid data block size %d", d.DataBlockSectors)
	}
	f, err := os.OpenFile(metaPath, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("emu: restore: %w", err)
	}
	defer f.Close()
	n, err := fileBlocks(f)
	if err != nil {
		return fmt.Errorf("emu: restore: %w", err)
	}
	if n > maxMetadataBlocks {
		n = maxMetadataBlocks
	}
	md := newMeta(d.DataBlockSectors, n)
	md.resizeData(d.NrDataBlocks)
	md.txn, md.time = d.Transaction, d.Time
	md.needsCheck = d.Flags&dumpFlagNeedCheck != 0
	for _, dd := range d.Devices {
		if _, dup := md.devs[dd.ID]; dup {
			return fmt.Errorf("emu: restore: device %d twice", dd.ID)
		}
		td := &thinDev{id: dd.ID, transaction: dd.Transaction, creationTime: dd.CreationTime,
			snapTime: dd.SnapTime, chunks: map[uint64]*chunk{}}
		md.devs[dd.ID] = td
		for _, m := range dd.Mappings {
			if m.DataBlock+m.Length > md.nrDataBlocks || m.Length == 0 {
				return fmt.Errorf("emu: restore: device %d maps data blocks %d+%d beyond %d", dd.ID, m.DataBlock, m.Length, md.nrDataBlocks)
			}
			for i := uint64(0); i < m.Length; i++ {
				if td.lookup(m.OriginBlock+i) != 0 {
					return fmt.Errorf("emu: restore: device %d block %d mapped twice", dd.ID, m.OriginBlock+i)
				}
				md.inc(m.DataBlock + i)
				md.setMapping(td, m.OriginBlock+i, m.DataBlock+i, m.Time)
			}
		}
		if td.mapped != dd.MappedBlocks && dd.MappedBlocks != 0 {
			return fmt.Errorf("emu: restore: device %d says %d mapped blocks, has %d", dd.ID, dd.MappedBlocks, td.mapped)
		}
	}
	md.recountTree()
	// Clear the superblocks so that a failed restore leaves an unformatted
	// file rather than the old pool.
	zero := make([]byte, 2*blockSize)
	if _, err := f.WriteAt(zero, 0); err != nil {
		return fmt.Errorf("emu: restore: %w", err)
	}
	if _, err := formatStore(f, md); err != nil {
		return fmt.Errorf("emu: restore: %w", err)
	}
	return nil
}

// PoolMetadata implements dm.MetadataReader: the committed metadata of the
// pool device, or its held root with snap.
func (e *Engine) PoolMetadata(ctx context.Context, pool string, snap bool) (*dm.MetadataDump, error) {
	return e.DumpPool(pool, snap)
}

var _ dm.MetadataReader = (*Engine)(nil)
