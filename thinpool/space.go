package thinpool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/thinraft/thinraft/dm"
)

// ErrNoRoom: the pool is over its autoextend threshold and its backing
// device cannot grow.
var ErrNoRoom = errors.New("pool backing device cannot grow")

// Space is a pool's usage from its status line, in percent and blocks.
type Space struct {
	DataUsed, DataTotal uint64 // data blocks
	MetaUsed, MetaTotal uint64 // metadata blocks
	DataPercent         float64
	MetaPercent         float64
	Mode                dm.PoolMode
	NeedsCheck          bool
}

func spaceOf(ps dm.PoolStatus) Space {
	s := Space{DataUsed: ps.UsedDataBlocks, DataTotal: ps.TotalDataBlocks, MetaUsed: ps.UsedMetaBlocks,
		MetaTotal: ps.TotalMetaBlocks, Mode: ps.Mode, NeedsCheck: ps.NeedsCheck}
	if s.DataTotal > 0 {
		s.DataPercent = 100 * float64(s.DataUsed) / float64(s.DataTotal)
	}
	if s.MetaTotal > 0 {
		s.MetaPercent = 100 * float64(s.MetaUsed) / float64(s.MetaTotal)
	}
	return s
}

// Space returns the pool's current usage.
func (p *Pool) Space(ctx context.Context) (Space, error) {
	ps, err := p.Status(ctx)
	if err != nil {
		return Space{}, err
	}
	return spaceOf(ps), nil
}

// checkReserve refuses a create or snapshot that would leave free data or
// metadata under the reserve, after first trying to autoextend.
func (p *Pool) checkReserve(ctx context.Context, ps dm.PoolStatus, in Intent) error {
	under := func(ps dm.PoolStatus) (string, bool) {
		dataFree := 100 * float64(ps.FreeDataBlocks()) / float64(max(ps.TotalDataBlocks, 1))
		metaFree := 100 * float64(ps.FreeMetaBlocks()) / float64(max(ps.TotalMetaBlocks, 1))
		switch {
		case ps.Mode != dm.ModeRW:
			return fmt.Sprintf("the pool is %s", ps.Mode), true
		case dataFree < float64(p.cfg.Reserve.DataPercent):
			return fmt.Sprintf("free data space %.1f%% is under the %d%% reserve", dataFree, p.cfg.Reserve.DataPercent), true
		case metaFree < float64(p.cfg.Reserve.MetaPercent):
			return fmt.Sprintf("free metadata space %.1f%% is under the %d%% reserve", metaFree, p.cfg.Reserve.MetaPercent), true
		}
		return "", false
	}
	if _, bad := under(ps); !bad {
		return nil
	}
	if !p.cfg.Autoextend.Disabled {
		if _, err := p.extendLocked(ctx, true); err != nil && !errors.Is(err, ErrNoRoom) {
			return err
		}
		var err error
		if ps, err = p.Status(ctx); err != nil {
			return err
		}
	}
	if why, bad := under(ps); bad {
		return fmt.Errorf("pool %s: %s refused: %s: %w; extend the pool (grow its data and metadata devices) or remove volumes",
			p.cfg.Name, in.Op, why, ErrRefused)
	}
	return nil
}

// Autoextend grows data and/or metadata that are at or over the threshold,
// by Percent of their current size. It returns what it grew.
func (p *Pool) Autoextend(ctx context.Context) (grew []string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.extendLocked(ctx, false)
}

// extendLocked grows what is at or over the threshold (or, with force,
// whatever is under the reserve too), in one step to a size that brings
// usage back under the threshold. ErrNoRoom when growth was needed but
// impossible; a partial growth is not an error (the next check grows again
// or the reserve refuses creates).
func (p *Pool) extendLocked(ctx context.Context, force bool) ([]string, error) {
	ps, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	if ps.Mode == dm.ModeFail || ps.Mode == dm.ModeError || ps.NeedsCheck {
		// The kernel refuses to resize a pool that needs repair; growing
		// the files would only hide the real problem.
		return nil, fmt.Errorf("pool %s: mode %s, needs_check %v: not extending a pool that needs repair (docs/repair.md)", p.cfg.Name, ps.Mode, ps.NeedsCheck)
	}
	s := spaceOf(ps)
	th := float64(p.cfg.Autoextend.ThresholdPercent)
	reserveData := 100 - float64(p.cfg.Reserve.DataPercent)
	reserveMeta := 100 - float64(p.cfg.Reserve.MetaPercent)
	var grew []string
	var errs []error
	if s.DataPercent >= th || (force && s.DataPercent > reserveData) {
		if err := p.growDev(ctx, p.cfg.DataDev, "data", func(size int64) float64 {
			total := uint64(size / (int64(p.cfg.ChunkSectors) * dm.SectorSize))
			return 100 * float64(ps.UsedDataBlocks) / float64(max(total, 1))
		}); err != nil {
			errs = append(errs, err)
		} else {
			grew = append(grew, "data")
		}
	}
	if s.MetaPercent >= th || (force && s.MetaPercent > reserveMeta) {
		// The kernel counts its metadata reserve as used (used = total -
		// (free - reserve)) and the reserve grows with the device, so the
		// projection moves it along.
		inUse := ps.UsedMetaBlocks - min(metaReserve(ps.TotalMetaBlocks), ps.UsedMetaBlocks)
		if err := p.growDev(ctx, p.cfg.MetadataDev, "metadata", func(size int64) float64 {
			total := uint64(size / metaBlockSize)
			return 100 * float64(inUse+metaReserve(total)) / float64(max(total, 1))
		}); err != nil {
			errs = append(errs, err)
		} else {
			grew = append(grew, "metadata")
		}
	}
	return grew, errors.Join(errs...)
}

// metaBlockSize is dm-thin's metadata block size (THIN_METADATA_BLOCK_SIZE).
const metaBlockSize = 4096

// maxMetadataBytes is the most of a metadata device the kernel uses
// (THIN_METADATA_MAX_SECTORS); growing past it buys nothing.
const maxMetadataBytes = 255 * (1 << 14) * 8 * dm.SectorSize

// metaReserve is the metadata the kernel keeps back for itself and reports
// as used: a tenth of the device, at most 4096 blocks (16 MiB).
func metaReserve(total uint64) uint64 { return min(total/10, 4096) }

// growTarget grows cur by the autoextend percent, compounding, until
// usage(size) falls under the threshold (at least one step, at most 64:
// LVM's policy applied as many times as the current usage needs).
func (p *Pool) growTarget(cur int64, usage func(int64) float64) int64 {
	th := float64(p.cfg.Autoextend.ThresholdPercent)
	want := cur
	for i := 0; i < 64; i++ {
		want += max(want*int64(p.cfg.Autoextend.Percent)/100, 1)
		if usage(want) < th {
			break
		}
	}
	chunk := int64(p.cfg.ChunkSectors) * dm.SectorSize
	return (want + chunk - 1) / chunk * chunk
}

// growDev grows one backing device to a size that brings usage under the
// threshold and makes the pool see it: reload the table (its length
// follows the data device; the kernel re-reads the metadata device size in
// preresume) and resume.
func (p *Pool) growDev(ctx context.Context, dev, what string, usage func(int64) float64) error {
	cur, err := p.gr.Size(ctx, dev)
	if err != nil {
		return fmt.Errorf("pool %s: %s device size: %w", p.cfg.Name, what, err)
	}
	want := p.growTarget(cur, usage)
	if what == "metadata" {
		if cur >= maxMetadataBytes {
			return fmt.Errorf("pool %s: grow metadata device: %w: it is at the kernel's %d-byte maximum", p.cfg.Name, ErrNoRoom, int64(maxMetadataBytes))
		}
		want = min(want, maxMetadataBytes)
	}
	got, err := p.gr.Grow(ctx, dev, want)
	if err != nil {
		return fmt.Errorf("pool %s: grow %s device: %w: %v", p.cfg.Name, what, ErrNoRoom, err)
	}
	if err := p.fp.hit(FPResizeAfterGrow); err != nil {
		return err
	}
	table, err := p.table(ctx)
	if err != nil {
		return err
	}
	if err := p.ctl.Load(ctx, p.DMName(), table); err != nil {
		return fmt.Errorf("pool %s: reload after growing %s: %w", p.cfg.Name, what, err)
	}
	if err := p.fp.hit(FPResizeAfterLoad); err != nil {
		return err
	}
	if err := p.ctl.Resume(ctx, p.DMName()); err != nil {
		return fmt.Errorf("pool %s: resume after growing %s: %w", p.cfg.Name, what, err)
	}
	p.log.Info("pool extended", "what", what, "from", cur, "to", got, "wanted", want)
	return nil
}

// Monitor watches the pool until ctx ends: it wakes on every pool event (the
// low-water mark, mode changes) and at least every interval, and
// autoextends what is over the threshold. Errors are logged, not fatal: a
// pool that cannot grow keeps being watched.
func (p *Pool) Monitor(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	var event uint32
	if info, err := p.ctl.Info(ctx, p.DMName()); err == nil {
		event = info.EventNr
	}
	for ctx.Err() == nil {
		if !p.cfg.Autoextend.Disabled {
			if grew, err := p.Autoextend(ctx); err != nil {
				p.log.Warn("autoextend", "err", err)
			} else if len(grew) > 0 {
				p.log.Info("autoextended", "grew", grew)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, interval)
		ev, err := p.ctl.WaitEvent(wctx, p.DMName(), event)
		cancel()
		if err == nil {
			event = ev
		}
	}
}
