package agent

import (
	"context"
	"fmt"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/metadata"
)

func (a *Agent) recordPool(uuid string) (p metadata.Pool, ok bool) {
	a.cfg.FSM.Read(func(v metadata.View) { p, ok = v.Pool(uuid) })
	return
}

// report proposes the pool's space figures and the volumes whose figures
// or open flag differ from this replica's record: a report names only the
// volumes it sets (metadata.PoolReportUsage), so an unchanged volume need
// not be named. At 100,000 volumes a full report was one Raft command of
// about 33,000 volumes per pool every interval, applied on every replica,
// and it landed on the tail of whatever ran beside it. The record is what
// earlier reports made of it, so nothing is lost when one fails: what it
// would have set still differs next time. A replica that lags the leader
// at worst names a volume again.
func (a *Agent) report(ctx context.Context, run *poolRun) error {
	uuid := run.pool.Name()
	if err := a.reportGrowth(ctx, run); err != nil {
		return err
	}
	sp, err := run.pool.Space(ctx)
	if err != nil {
		return err
	}
	vols := a.volumesOfPool(uuid)
	open := a.openVolumes(uuid)
	// covered[i]: vols[i] got its figures. Indexes and slices, not maps
	// keyed by uuid: a report visits every volume of the pool (33,000 per
	// pool at the bench's 100,000), every interval.
	covered := make([]bool, len(vols))
	rep := metadata.PoolReportUsage{Pool: uuid, Usage: metadata.Usage{DataUsed: sp.DataUsed, DataTotal: sp.DataTotal,
		MetaUsed: sp.MetaUsed, MetaTotal: sp.MetaTotal, Mode: string(sp.Mode)}}
	if sp.Mode == dm.ModeRW || sp.Mode == dm.ModeOutOfDataSpace {
		// Per-volume figures need a metadata snapshot, which a read-only
		// or failed pool cannot take.
		u, err := run.pool.Usage(ctx)
		if err != nil {
			return err
		}
		byThin := make(map[uint32]int32, len(vols))
		for i, v := range vols {
			if v.ThinID != 0 {
				byThin[v.ThinID] = int32(i)
			}
		}
		for _, vu := range u.Volumes {
			i, ok := byThin[vu.ThinID]
			if !ok {
				continue
			}
			v := &vols[i]
			covered[i] = true
			x, sh := vu.Exclusive*u.BlockSize, vu.Shared*u.BlockSize
			if x != v.ExclusiveBytes || sh != v.SharedBytes || open[v.UUID] != v.Open {
				rep.Volumes = append(rep.Volumes, metadata.VolumeUsage{UUID: v.UUID, ExclusiveBytes: x, SharedBytes: sh, Open: open[v.UUID]})
			}
		}
	}
	// A volume the figures did not cover still gets its open state, with
	// the record's figures unchanged.
	for i, v := range vols {
		if !covered[i] && v.Open != open[v.UUID] {
			rep.Volumes = append(rep.Volumes, metadata.VolumeUsage{UUID: v.UUID,
				ExclusiveBytes: v.ExclusiveBytes, SharedBytes: v.SharedBytes, Open: open[v.UUID]})
		}
	}
	_, err = a.propose(ctx, metadata.CmdPoolReportUsage, rep)
	return err
}

func (a *Agent) volumesOfPool(uuid string) []metadata.VolumeBrief {
	var vols []metadata.VolumeBrief
	a.cfg.FSM.Read(func(v metadata.View) { vols = v.VolumeBriefsOfPool(uuid) })
	return vols
}

// reportGrowth proposes pool_grow when a backing device is larger than
// the record says (autoextend grew it).
func (a *Agent) reportGrowth(ctx context.Context, run *poolRun) error {
	uuid := run.pool.Name()
	p, ok := a.recordPool(uuid)
	if !ok {
		return fmt.Errorf("pool %s is not in the record", uuid)
	}
	cfg := run.pool.Config()
	gr := a.cfg.Storage.Grower()
	data, err := gr.Size(ctx, cfg.DataDev)
	if err != nil {
		return err
	}
	meta, err := gr.Size(ctx, cfg.MetadataDev)
	if err != nil {
		return err
	}
	g := metadata.PoolGrow{Pool: uuid}
	if uint64(data) > p.DataBytes {
		g.DataBytes = uint64(data)
	}
	if uint64(meta) > p.MetaBytes {
		g.MetaBytes = uint64(meta)
	}
	if g.DataBytes == 0 && g.MetaBytes == 0 {
		return nil
	}
	if _, err := a.propose(ctx, metadata.CmdPoolGrow, g); err != nil {
		return err
	}
	a.log.Info("pool growth recorded", "pool", uuid, "data_bytes", g.DataBytes, "meta_bytes", g.MetaBytes)
	return nil
}
