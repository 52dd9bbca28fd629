package thinpool

import (
	"context"
	"fmt"

	"github.com/thinraft/thinraft/dm"
)

// Config describes one pool. Zero values take LVM-like defaults (see
// withDefaults).
type Config struct {
	// Name is the pool's name; its dm device is DMPrefix+Name.
	Name string
	// MetadataDev and DataDev are the backing devices: files on the
	// userspace engine, block devices on the kernel.
	MetadataDev string
	DataDev     string
	// ChunkSectors is the data block size in sectors (default 128 = 64 KiB;
	// a multiple of 128 between 128 and 2097152).
	ChunkSectors uint64
	// SkipZeroing disables zeroing of newly provisioned blocks (LVM's
	// --zero n). Zeroing is on by default, as in LVM.
	SkipZeroing bool
	// Discards is ignore, nopassdown or passdown (default).
	Discards dm.DiscardMode
	// LowWaterBlocks raises a pool event when free data blocks fall to it.
	// The default follows the data device: the blocks left free at the
	// autoextend threshold, so the event is "data reached the threshold"
	// and wakes Monitor exactly when it has work.
	LowWaterBlocks uint64
	// ErrorIfNoSpace fails writes at once when the pool is full instead of
	// queueing them for the kernel's no_space_timeout.
	ErrorIfNoSpace bool
	Autoextend     AutoextendPolicy
	Reserve        ReservePolicy
}

// AutoextendPolicy is LVM's thin_pool_autoextend_threshold/percent, on by
// default, for data AND metadata.
type AutoextendPolicy struct {
	// Disabled turns autoextend off.
	Disabled bool
	// ThresholdPercent: extend when used data or metadata reaches this
	// percentage (default 70).
	ThresholdPercent int
	// Percent: grow by this percentage of the current size (default 20).
	Percent int
}

// ReservePolicy: thin create and snapshot are refused when free data or
// free metadata would fall under these percentages (default 10 each).
type ReservePolicy struct {
	DataPercent int
	MetaPercent int
}

// Grower grows the backing device of a pool. On the userspace engine it
// grows the file; for block devices the node agent supplies one (an LV, a
// partition, a cloud disk). Grow returns the new size in bytes: minSize, or
// less when the device is near its limit (any growth buys the pool time),
// or an error if the device cannot grow at all.
type Grower interface {
	Grow(ctx context.Context, dev string, minSize int64) (int64, error)
	// Size returns the current size of dev in bytes.
	Size(ctx context.Context, dev string) (int64, error)
}

// DMPrefix prefixes every dm device thinraft creates, so it never touches
// devices it did not make.
const DMPrefix = "thinraft-"

func (c Config) withDefaults() Config {
	if c.ChunkSectors == 0 {
		c.ChunkSectors = 128
	}
	if c.Discards == "" {
		c.Discards = dm.DiscardPassdown
	}
	if c.Autoextend.ThresholdPercent == 0 {
		c.Autoextend.ThresholdPercent = 70
	}
	if c.Autoextend.Percent == 0 {
		c.Autoextend.Percent = 20
	}
	if c.Reserve.DataPercent == 0 {
		c.Reserve.DataPercent = 10
	}
	if c.Reserve.MetaPercent == 0 {
		c.Reserve.MetaPercent = 10
	}
	return c
}

// Validate checks the config before any device is touched.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Name == "":
		return fmt.Errorf("pool config: name is empty")
	case c.MetadataDev == "" || c.DataDev == "":
		return fmt.Errorf("pool config %s: metadata and data devices are required", c.Name)
	case c.Autoextend.ThresholdPercent < 50 || c.Autoextend.ThresholdPercent > 100:
		return fmt.Errorf("pool config %s: autoextend threshold %d%% out of range 50-100", c.Name, c.Autoextend.ThresholdPercent)
	case c.Autoextend.Percent < 1:
		return fmt.Errorf("pool config %s: autoextend percent must be positive", c.Name)
	case c.Reserve.DataPercent < 0 || c.Reserve.DataPercent > 50 || c.Reserve.MetaPercent < 0 || c.Reserve.MetaPercent > 50:
		return fmt.Errorf("pool config %s: reserve percentages must be 0-50", c.Name)
	}
	switch c.Discards {
	case dm.DiscardPassdown, dm.DiscardNoPassdown, dm.DiscardIgnore:
	default:
		return fmt.Errorf("pool config %s: discards %q: use passdown, nopassdown or ignore", c.Name, c.Discards)
	}
	p := c.poolParams(0)
	if err := p.Validate(); err != nil {
		return fmt.Errorf("pool config %s: %v (chunk size must be a multiple of 64KiB between 64KiB and 1GiB)", c.Name, err)
	}
	return nil
}

// poolParams builds the thin-pool table parameters.
func (c Config) poolParams(lowWater uint64) dm.ThinPoolParams {
	return dm.ThinPoolParams{
		MetadataDev:      c.MetadataDev,
		DataDev:          c.DataDev,
		DataBlockSectors: c.ChunkSectors,
		LowWaterMark:     lowWater,
		Features: dm.PoolFeatures{
			SkipBlockZeroing:  c.SkipZeroing,
			IgnoreDiscard:     c.Discards == dm.DiscardIgnore,
			NoDiscardPassdown: c.Discards == dm.DiscardNoPassdown,
			ErrorIfNoSpace:    c.ErrorIfNoSpace,
		},
	}
}
