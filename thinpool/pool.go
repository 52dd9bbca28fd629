package thinpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/thinraft/thinraft/dm"
)

// ErrQuarantined: the pool's kernel state disagrees with its record in a way
// reconcile could not explain; it refuses changes until an operator repairs
// it (docs/repair.md).
var ErrQuarantined = errors.New("pool is quarantined")

// Options wire a Pool to its surroundings.
type Options struct {
	Control dm.Control
	Record  Record
	// Grower grows backing devices (FileGrower on the userspace engine).
	Grower     Grower
	Failpoints *Failpoints
	Logger     *slog.Logger
}

// Pool is one dm-thin pool on this node. All changes to the pool's thin
// devices go through the transaction protocol (Execute); a Pool serialises
// them. Reads (status, usage, mappings) may run concurrently with a change.
type Pool struct {
	cfg Config
	ctl dm.Control
	rec Record
	gr  Grower
	fp  *Failpoints
	log *slog.Logger

	// mu serialises protocol steps, resize and reconcile.
	mu          sync.Mutex
	quarantined []Finding
	// last is the report of the latest Reconcile (Open runs one).
	last ReconcileReport
	held *heldRoot
}

// DMName is the pool's device-mapper name.
func (p *Pool) DMName() string { return DMPrefix + p.cfg.Name }

// Name is the pool's name.
func (p *Pool) Name() string { return p.cfg.Name }

// Config returns the pool's configuration with defaults applied.
func (p *Pool) Config() Config { return p.cfg }

// ThinDMName is the device-mapper name of thin id's device in this pool.
func (p *Pool) ThinDMName(id uint32) string { return fmt.Sprintf("%s%s-%d", DMPrefix, p.cfg.Name, id) }

// Open activates the pool (creating its dm device from cfg if it is not
// active, formatting zeroed metadata on first use, as the kernel does) and
// reconciles the kernel with the record. A pool whose reconcile finds
// something it cannot explain opens quarantined: reads work, changes are
// refused with ErrQuarantined.
func Open(ctx context.Context, cfg Config, o Options) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Control == nil || o.Record == nil || o.Grower == nil {
		return nil, fmt.Errorf("thinpool %s: Control, Record and Grower are required", cfg.Name)
	}
	p := &Pool{cfg: cfg.withDefaults(), ctl: o.Control, rec: o.Record, gr: o.Grower, fp: o.Failpoints, log: o.Logger, held: newHeldRoot()}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("pool", cfg.Name)
	if err := p.activate(ctx); err != nil {
		return nil, err
	}
	if _, err := p.Reconcile(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// activate creates the pool's dm device if absent, or adopts the one a
// previous process left (see adopt).
func (p *Pool) activate(ctx context.Context) error {
	info, err := p.ctl.Info(ctx, p.DMName())
	switch {
	case err == nil:
		return p.adopt(ctx, info)
	case !errors.Is(err, dm.ErrDeviceNotFound):
		return fmt.Errorf("pool %s: %w", p.cfg.Name, err)
	}
	table, err := p.table(ctx)
	if err != nil {
		return err
	}
	if _, err := p.ctl.Create(ctx, p.DMName(), dm.CreateOptions{Table: table}); err != nil {
		return fmt.Errorf("pool %s: activate: %w", p.cfg.Name, err)
	}
	p.log.Info("pool activated", "dm", p.DMName(), "sectors", table.Size())
	return nil
}

// adopt takes over a pool device that outlived the process that made it
// (on the kernel, devices survive their manager). A crash inside an
// extension leaves the backing device grown but the table not reloaded
// (resize-after-grow), or the bigger table staged but not resumed
// (resize-after-load), or the pool suspended: reload the table when the
// live one is smaller than the data device or the pool sees less metadata
// than its device has, drop a stale staged table otherwise, and resume.
// Growth is the only change made: a pool is never shrunk here.
func (p *Pool) adopt(ctx context.Context, info dm.DeviceInfo) error {
	want, err := p.table(ctx)
	if err != nil {
		return err
	}
	live, err := p.ctl.Table(ctx, p.DMName(), dm.TableOptions{})
	if err != nil {
		return fmt.Errorf("pool %s: adopt: %w", p.cfg.Name, err)
	}
	if len(live) != 1 || live[0].Type != dm.TargetThinPool {
		return fmt.Errorf("pool %s: adopt: device %s is not a thin-pool (table %q); not touching it", p.cfg.Name, p.DMName(), live.String())
	}
	grow := live.Size() < want.Size()
	if !grow {
		ps, err := p.Status(ctx)
		if err != nil {
			return err
		}
		metaSize, err := p.gr.Size(ctx, p.cfg.MetadataDev)
		if err != nil {
			return fmt.Errorf("pool %s: metadata device: %w", p.cfg.Name, err)
		}
		grow = ps.TotalMetaBlocks < uint64(min(metaSize, maxMetadataBytes)/metaBlockSize)
	}
	if grow {
		if err := p.ctl.Load(ctx, p.DMName(), want); err != nil {
			// A crash between growing a file and refreshing its loop
			// device leaves a device smaller than the file. The pool
			// works at its old size; the next autoextend grows and
			// refreshes again.
			p.log.Warn("could not finish an interrupted extension; the pool keeps its size", "err", err)
			grow = false
		} else {
			p.log.Info("finishing an interrupted extension", "from_sectors", live.Size(), "to_sectors", want.Size())
		}
	}
	if !grow && info.InactiveTable {
		// A staged table nobody will resume: never let a later resume
		// swap in something this process did not choose.
		if err := p.ctl.ClearInactive(ctx, p.DMName()); err != nil {
			return fmt.Errorf("pool %s: drop a stale staged table: %w", p.cfg.Name, err)
		}
	}
	if grow || info.Suspended {
		if err := p.ctl.Resume(ctx, p.DMName()); err != nil {
			return fmt.Errorf("pool %s: resume after restart: %w", p.cfg.Name, err)
		}
	}
	return nil
}

// table builds the pool table from the current data device size.
func (p *Pool) table(ctx context.Context) (dm.Table, error) {
	size, err := p.gr.Size(ctx, p.cfg.DataDev)
	if err != nil {
		return nil, fmt.Errorf("pool %s: data device: %w", p.cfg.Name, err)
	}
	chunkBytes := int64(p.cfg.ChunkSectors) * dm.SectorSize
	blocks := uint64(size / chunkBytes)
	if blocks == 0 {
		return nil, fmt.Errorf("pool %s: data device %s (%d bytes) is smaller than one %d-byte chunk", p.cfg.Name, p.cfg.DataDev, size, chunkBytes)
	}
	lw := p.cfg.LowWaterBlocks
	if lw == 0 {
		// Raise the pool event exactly when used data reaches the
		// autoextend threshold, so Monitor wakes in time.
		lw = max(blocks*uint64(100-p.cfg.Autoextend.ThresholdPercent)/100, 1)
	}
	return dm.Table{p.cfg.poolParams(lw).Target(blocks * p.cfg.ChunkSectors)}, nil
}

// Status returns the pool's parsed status line.
func (p *Pool) Status(ctx context.Context) (dm.PoolStatus, error) {
	// NoFlush: the counts and the transaction id come from the pool's
	// in-core metadata either way; a commit per status would double the
	// metadata IO of every protocol step.
	st, err := p.ctl.Status(ctx, p.DMName(), dm.StatusOptions{NoFlush: true})
	if err != nil {
		return dm.PoolStatus{}, fmt.Errorf("pool %s: status: %w", p.cfg.Name, err)
	}
	if len(st) != 1 || st[0].Type != dm.TargetThinPool {
		return dm.PoolStatus{}, fmt.Errorf("pool %s: status: not a single thin-pool target", p.cfg.Name)
	}
	ps, err := dm.ParsePoolStatus(st[0].Params)
	if err != nil {
		return dm.PoolStatus{}, fmt.Errorf("pool %s: %w", p.cfg.Name, err)
	}
	return ps, nil
}

// Quarantined returns the findings that keep the pool quarantined, if any.
func (p *Pool) Quarantined() []Finding {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Finding(nil), p.quarantined...)
}

// LastReconcile returns the report of the latest Reconcile, including the
// one Open ran: what a restart rolled forward, redid or rolled back.
func (p *Pool) LastReconcile() ReconcileReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Deactivate removes the pool's active thin devices and the pool device.
// Nothing on disk changes; Open activates it again.
func (p *Pool) Deactivate(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	devs, err := p.ctl.List(ctx)
	if err != nil {
		return fmt.Errorf("pool %s: deactivate: %w", p.cfg.Name, err)
	}
	prefix := p.DMName() + "-"
	for _, d := range devs {
		if len(d.Name) > len(prefix) && d.Name[:len(prefix)] == prefix {
			if err := p.ctl.Remove(ctx, d.Name, dm.RemoveOptions{Retries: 10}); err != nil {
				return fmt.Errorf("pool %s: deactivate thin %s: %w", p.cfg.Name, d.Name, err)
			}
		}
	}
	if err := p.ctl.Remove(ctx, p.DMName(), dm.RemoveOptions{Retries: 10}); err != nil {
		return fmt.Errorf("pool %s: deactivate: %w", p.cfg.Name, err)
	}
	return nil
}
