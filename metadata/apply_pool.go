package metadata

// Pool commands.

const (
	minChunkSectors = 128     // 64 KiB, dm-thin's minimum data block
	maxChunkSectors = 2097152 // 1 GiB, its maximum
	// maxFindings bounds a quarantined pool's findings; the newest are kept.
	maxFindings = 100
)

func (s *state) poolAdd(c *applyCtx, p PoolAdd) *Result {
	if err := validateUUID("pool", p.UUID); err != nil {
		return &Result{Err: err}
	}
	if err := ValidateLVName(p.Name); err != nil {
		return &Result{Err: err}
	}
	e := s.vgs[p.VG]
	if e == nil {
		return &Result{Err: errf(CodeNotFound, "VG %s not found", p.VG)}
	}
	if err := nameFree(e, p.Name); err != nil {
		return &Result{Err: err}
	}
	if _, ok := s.pools[p.UUID]; ok {
		return &Result{Err: errf(CodeExists, "pool uuid %s already in use", p.UUID)}
	}
	if s.volumes.get(p.UUID) != nil {
		return &Result{Err: errf(CodeExists, "uuid %s is a volume's", p.UUID)}
	}
	n := s.nodes[p.Node]
	if n == nil {
		return &Result{Err: errf(CodeNotFound, "node %s not found", p.Node)}
	}
	if n.State == NodeLeft {
		return &Result{Err: errf(CodeConflict, "node %s has left the cluster", p.Node)}
	}
	if p.ChunkSectors < minChunkSectors || p.ChunkSectors > maxChunkSectors || p.ChunkSectors%minChunkSectors != 0 {
		return &Result{Err: errf(CodeInvalid, "chunk size %d sectors: want a multiple of %d between %d and %d",
			p.ChunkSectors, minChunkSectors, minChunkSectors, maxChunkSectors)}
	}
	if err := validateSize("pool data size", p.DataBytes); err != nil {
		return &Result{Err: err}
	}
	if p.DataBytes < uint64(p.ChunkSectors)*sectorSize {
		return &Result{Err: errf(CodeInvalid, "pool data size %d is smaller than one chunk", p.DataBytes)}
	}
	if err := validateSize("pool metadata size", p.MetaBytes); err != nil {
		return &Result{Err: err}
	}
	discards := p.Discards
	switch discards {
	case "":
		discards = "passdown"
	case "passdown", "nopassdown", "ignore":
	default:
		return &Result{Err: errf(CodeInvalid, "discards %q: want passdown, nopassdown or ignore", p.Discards)}
	}
	s.addPool(&Pool{UUID: p.UUID, VG: p.VG, Name: p.Name, Node: p.Node, ChunkSectors: p.ChunkSectors,
		DataBytes: p.DataBytes, MetaBytes: p.MetaBytes, Zero: p.Zero, Discards: discards,
		ErrorIfNoSpace: p.ErrorIfNoSpace, TxnID: p.TxnID, NextThinID: 1, State: PoolActive,
		CreatedAt: c.at, UpdatedAt: c.at})
	return &Result{UUID: p.UUID}
}

func (s *state) poolGrow(c *applyCtx, p PoolGrow) *Result {
	pe, err := s.resolvePool("", p.Pool)
	if err != nil {
		return &Result{Err: err}
	}
	pl := pe.pool
	if p.DataBytes == 0 && p.MetaBytes == 0 {
		return &Result{Err: errf(CodeInvalid, "pool grow names no new size")}
	}
	if p.DataBytes != 0 {
		if err := validateSize("pool data size", p.DataBytes); err != nil {
			return &Result{Err: err}
		}
		if p.DataBytes < pl.DataBytes {
			return &Result{Err: errf(CodeInvalid, "pool data size %d < current %d: pools only grow", p.DataBytes, pl.DataBytes)}
		}
	}
	if p.MetaBytes != 0 {
		if err := validateSize("pool metadata size", p.MetaBytes); err != nil {
			return &Result{Err: err}
		}
		if p.MetaBytes < pl.MetaBytes {
			return &Result{Err: errf(CodeInvalid, "pool metadata size %d < current %d: pools only grow", p.MetaBytes, pl.MetaBytes)}
		}
	}
	if p.DataBytes != 0 {
		pl.DataBytes = p.DataBytes
	}
	if p.MetaBytes != 0 {
		pl.MetaBytes = p.MetaBytes
	}
	pl.UpdatedAt = c.at
	return &Result{UUID: pl.UUID}
}

func (s *state) poolRemove(_ *applyCtx, p PoolRemove) *Result {
	pe, err := s.resolvePool("", p.Pool)
	if err != nil {
		return &Result{Err: err}
	}
	if len(pe.volumes) > 0 {
		return &Result{Err: errf(CodeConflict, "pool %s/%s has %d volume(s)", pe.pool.VG, pe.pool.Name, len(pe.volumes))}
	}
	if len(pe.queue) > 0 {
		return &Result{Err: errf(CodeConflict, "pool %s/%s has %d pending intent(s)", pe.pool.VG, pe.pool.Name, len(pe.queue))}
	}
	s.removePool(pe)
	return &Result{UUID: pe.pool.UUID}
}

func (s *state) poolReportUsage(c *applyCtx, p PoolReportUsage) *Result {
	pe, err := s.resolvePool("", p.Pool)
	if err != nil {
		return &Result{Err: err}
	}
	u := p.Usage
	u.ReportedAt = c.at
	pe.pool.Usage = u
	for _, vu := range p.Volumes {
		if v := s.volumes.get(vu.UUID); v != nil && v.Pool == pe.pool.UUID {
			v.ExclusiveBytes, v.SharedBytes, v.Open = vu.ExclusiveBytes, vu.SharedBytes, vu.Open
		}
	}
	return &Result{UUID: pe.pool.UUID}
}

func (s *state) poolQuarantine(c *applyCtx, p PoolQuarantine) *Result {
	pe, err := s.resolvePool("", p.Pool)
	if err != nil {
		return &Result{Err: err}
	}
	if len(p.Findings) == 0 {
		return &Result{Err: errf(CodeInvalid, "a quarantine needs at least one finding")}
	}
	pl := pe.pool
	fs := make([]Finding, 0, len(pl.Findings)+len(p.Findings))
	fs = append(fs, pl.Findings...)
	for _, f := range p.Findings {
		if f.At.IsZero() {
			f.At = c.at
		}
		fs = append(fs, f)
	}
	if len(fs) > maxFindings {
		fs = fs[len(fs)-maxFindings:]
	}
	pl.Findings, pl.State, pl.UpdatedAt = fs, PoolQuarantined, c.at
	return &Result{UUID: pl.UUID}
}

func (s *state) poolUnquarantine(c *applyCtx, p PoolUnquarantine) *Result {
	pe, err := s.resolvePool("", p.Pool)
	if err != nil {
		return &Result{Err: err}
	}
	pl := pe.pool
	if pl.State == PoolQuarantined {
		pl.State, pl.Findings, pl.UpdatedAt = PoolActive, nil, c.at
	}
	return &Result{UUID: pl.UUID}
}
