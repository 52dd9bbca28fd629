package thinpool

import (
	"context"
	"fmt"

	"github.com/thinraft/thinraft/dm"
)

// DeltaKind classifies a range of virtual blocks between two thin devices,
// with thin_delta's names.
type DeltaKind string

// Delta kinds: right_only blocks were added in the second device,
// left_only blocks removed (unmapped) in it, different blocks changed
// (mapped in both to different data blocks), same blocks unchanged.
const (
	DeltaSame      DeltaKind = "same"
	DeltaDifferent DeltaKind = "different"
	DeltaLeftOnly  DeltaKind = "left_only"
	DeltaRightOnly DeltaKind = "right_only"
)

// DeltaRange is a run of virtual blocks of one kind.
type DeltaRange struct {
	Kind   DeltaKind
	Begin  uint64 // virtual block
	Length uint64 // blocks
}

// Range is a run of mapped virtual blocks.
type Range struct {
	Begin  uint64
	Length uint64
}

// MappedRanges returns a device's mapped virtual block runs, merged across
// data-block discontinuities (what a copy needs to send).
func MappedRanges(dev *dm.DeviceDump) []Range {
	var out []Range
	for _, m := range dev.Mappings {
		if n := len(out); n > 0 && out[n-1].Begin+out[n-1].Length == m.OriginBlock {
			out[n-1].Length += m.Length
			continue
		}
		out = append(out, Range{Begin: m.OriginBlock, Length: m.Length})
	}
	return out
}

// ComputeDelta compares device a (older) with device b (newer) in one dump
// and returns the changed, added and removed runs in block order (with
// same runs only if withSame), adjacent runs of one kind merged.
func ComputeDelta(d *dm.MetadataDump, a, b uint32, withSame bool) ([]DeltaRange, error) {
	da, db := d.Device(a), d.Device(b)
	if da == nil || db == nil {
		return nil, fmt.Errorf("delta %d..%d: thin device missing from the metadata", a, b)
	}
	var out []DeltaRange
	emit := func(k DeltaKind, begin, n uint64) {
		if n == 0 || (k == DeltaSame && !withSame) {
			return
		}
		if l := len(out); l > 0 && out[l-1].Kind == k && out[l-1].Begin+out[l-1].Length == begin {
			out[l-1].Length += n
			return
		}
		out = append(out, DeltaRange{Kind: k, Begin: begin, Length: n})
	}
	// Walk both sorted run lists block-run by block-run.
	i, j := 0, 0
	var ia, jb uint64 // offset consumed within the current runs
	for i < len(da.Mappings) || j < len(db.Mappings) {
		var ra, rb *dm.Mapping
		if i < len(da.Mappings) {
			ra = &da.Mappings[i]
		}
		if j < len(db.Mappings) {
			rb = &db.Mappings[j]
		}
		switch {
		case rb == nil || (ra != nil && ra.OriginBlock+ia < rb.OriginBlock+jb):
			// a's run starts first: left_only up to b's start or a's end.
			start := ra.OriginBlock + ia
			end := ra.OriginBlock + ra.Length
			if rb != nil && rb.OriginBlock+jb < end {
				end = rb.OriginBlock + jb
			}
			emit(DeltaLeftOnly, start, end-start)
			ia += end - start
		case ra == nil || rb.OriginBlock+jb < ra.OriginBlock+ia:
			start := rb.OriginBlock + jb
			end := rb.OriginBlock + rb.Length
			if ra != nil && ra.OriginBlock+ia < end {
				end = ra.OriginBlock + ia
			}
			emit(DeltaRightOnly, start, end-start)
			jb += end - start
		default: // both mapped at the same virtual block
			start := ra.OriginBlock + ia
			n := min(ra.Length-ia, rb.Length-jb)
			if ra.DataBlock+ia == rb.DataBlock+jb {
				emit(DeltaSame, start, n)
			} else {
				emit(DeltaDifferent, start, n)
			}
			ia += n
			jb += n
		}
		if ra != nil && ia == ra.Length {
			i, ia = i+1, 0
		}
		if rb != nil && jb == rb.Length {
			j, jb = j+1, 0
		}
	}
	return out, nil
}

// Mappings returns thin id's mapped virtual block runs from a held metadata
// root shared with other concurrent readers.
func (p *Pool) Mappings(ctx context.Context, id uint32) ([]Range, error) {
	var out []Range
	err := p.withDevices(ctx, []uint32{id}, func(d *dm.MetadataDump) error {
		out = MappedRanges(d.Device(id))
		return nil
	})
	return out, err
}

// Delta returns the runs that differ between thin devices from (older) and
// to (newer), from one held metadata root shared with other readers.
func (p *Pool) Delta(ctx context.Context, from, to uint32) ([]DeltaRange, error) {
	var out []DeltaRange
	err := p.withDevices(ctx, []uint32{from, to}, func(d *dm.MetadataDump) error {
		var err error
		out, err = ComputeDelta(d, from, to, false)
		return err
	})
	return out, err
}

// withDevices runs fn on a held root shared with concurrent readers when it
// already holds ids, and on a fresh one otherwise (a device created after
// the shared root was taken).
func (p *Pool) withDevices(ctx context.Context, ids []uint32, fn func(*dm.MetadataDump) error) error {
	missing := func(d *dm.MetadataDump) error {
		for _, id := range ids {
			if d.Device(id) == nil {
				return fmt.Errorf("pool %s: thin %d is not in the metadata", p.cfg.Name, id)
			}
		}
		return nil
	}
	errStale := fmt.Errorf("stale root")
	err := p.withMetadata(ctx, false, func(d *dm.MetadataDump) error {
		if missing(d) != nil {
			return errStale
		}
		return fn(d)
	})
	if err != errStale {
		return err
	}
	return p.withMetadata(ctx, true, func(d *dm.MetadataDump) error {
		if err := missing(d); err != nil {
			return err
		}
		return fn(d)
	})
}
