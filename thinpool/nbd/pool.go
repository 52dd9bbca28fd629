package nbd

import (
	"context"
	"fmt"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/thinpool"
)

// ThinExport opens thin volume id of pool p for IO (activating it) and
// builds its Export: the allocation tracker starts from the volume's mapped
// blocks read from the pool's metadata now (a held metadata root, after the
// pool committed), so BLOCK_STATUS is exact for writes made before the
// export and kept exact by the export's own IO after. Writes to the volume
// through anything but this export are not seen: serve a volume through one
// export at a time. Close the Export to close the device.
func ThinExport(ctx context.Context, p *thinpool.Pool, id uint32, name string) (*Export, error) {
	dev, err := p.OpenThin(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("nbd export of thin %d: %w", id, err)
	}
	exp, err := ThinDeviceExport(ctx, p, id, dev, name)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return exp, nil
}

// ThinDeviceExport is ThinExport for a device of thin id the caller has
// opened already (the node agent activates volumes itself). On error dev
// is left open.
func ThinDeviceExport(ctx context.Context, p *thinpool.Pool, id uint32, dev dm.BlockDevice, name string) (*Export, error) {
	// Commit what earlier openers wrote so the metadata holds it.
	if err := dev.Flush(); err != nil {
		return nil, fmt.Errorf("nbd export of thin %d: flush: %w", id, err)
	}
	ranges, err := p.Mappings(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("nbd export of thin %d: mappings: %w", id, err)
	}
	cfg := p.Config()
	block := int64(cfg.ChunkSectors) * dm.SectorSize
	spans := make([]Span, len(ranges))
	for i, r := range ranges {
		spans[i] = Span{Begin: r.Begin, Length: r.Length}
	}
	unmaps := cfg.Discards != dm.DiscardIgnore
	return &Export{
		Name:          name,
		Description:   fmt.Sprintf("thinraft pool %s thin %d", cfg.Name, id),
		Device:        dev,
		Alloc:         NewTracker(dev.Size(), block, spans, unmaps),
		BlockSize:     block,
		DiscardUnmaps: unmaps,
	}, nil
}
