package dm

import (
	"fmt"
	"strconv"
	"strings"
)

// PoolMode is the mode word of a thin-pool status line.
type PoolMode string

// Pool modes as the kernel reports them. ModeFail and ModeError are whole
// status lines ("Fail", "Error") with no other fields.
const (
	ModeRW             PoolMode = "rw"
	ModeRO             PoolMode = "ro"
	ModeOutOfDataSpace PoolMode = "out_of_data_space"
	ModeFail           PoolMode = "Fail"
	ModeError          PoolMode = "Error"
)

// DiscardMode is the discard word of a thin-pool status line.
type DiscardMode string

// Discard modes as the kernel reports them.
const (
	DiscardPassdown   DiscardMode = "discard_passdown"
	DiscardNoPassdown DiscardMode = "no_discard_passdown"
	DiscardIgnore     DiscardMode = "ignore_discard"
)

// PoolStatus is a parsed thin-pool status line:
//
//	<transaction id> <used metadata blocks>/<total metadata blocks>
//	<used data blocks>/<total data blocks> <held metadata root|->
//	rw|ro|out_of_data_space <discard mode> error_if_no_space|queue_if_no_space
//	needs_check|- <metadata low water mark>
//
// or the single word Fail or Error (Mode set, other fields zero).
type PoolStatus struct {
	TransactionID   uint64
	UsedMetaBlocks  uint64
	TotalMetaBlocks uint64
	UsedDataBlocks  uint64
	TotalDataBlocks uint64
	// HeldRoot is the metadata block of the held metadata snapshot; valid
	// only when HasHeldRoot.
	HeldRoot    uint64
	HasHeldRoot bool
	Mode        PoolMode
	Discard     DiscardMode
	// ErrorIfNoSpace is true for error_if_no_space, false for queue_if_no_space.
	ErrorIfNoSpace bool
	NeedsCheck     bool
	// MetaLowWater is the metadata low-water threshold in metadata blocks.
	MetaLowWater uint64
}

// FreeDataBlocks returns the free data blocks.
func (s PoolStatus) FreeDataBlocks() uint64 { return s.TotalDataBlocks - s.UsedDataBlocks }

// FreeMetaBlocks returns the free metadata blocks.
func (s PoolStatus) FreeMetaBlocks() uint64 { return s.TotalMetaBlocks - s.UsedMetaBlocks }

// String formats the status byte for byte as the kernel's pool_status
// emits it (including its trailing space).
func (s PoolStatus) String() string {
	if s.Mode == ModeFail || s.Mode == ModeError {
		return string(s.Mode)
	}
	held := "-"
	if s.HasHeldRoot {
		held = strconv.FormatUint(s.HeldRoot, 10)
	}
	space := "queue_if_no_space"
	if s.ErrorIfNoSpace {
		space = "error_if_no_space"
	}
	check := "-"
	if s.NeedsCheck {
		check = "needs_check"
	}
	return fmt.Sprintf("%d %d/%d %d/%d %s %s %s %s %s %d ",
		s.TransactionID, s.UsedMetaBlocks, s.TotalMetaBlocks, s.UsedDataBlocks, s.TotalDataBlocks,
		held, s.Mode, s.Discard, space, check, s.MetaLowWater)
}

// ParsePoolStatus parses a thin-pool status line exactly: every field must
// be present and well formed, used counts may not exceed totals, and
// unknown words are refused. Leading and trailing blanks are ignored.
func ParsePoolStatus(line string) (PoolStatus, error) {
	trimmed := strings.TrimSpace(line)
	switch trimmed {
	case string(ModeFail), string(ModeError):
		return PoolStatus{Mode: PoolMode(trimmed)}, nil
	}
	f := strings.Fields(trimmed)
	if len(f) != 9 {
		return PoolStatus{}, fmt.Errorf("thin-pool status: want 9 fields, got %d in %q", len(f), line)
	}
	var s PoolStatus
	var err error
	if s.TransactionID, err = parseDecimal(f[0]); err != nil {
		return PoolStatus{}, fmt.Errorf("thin-pool status: transaction id: %w", err)
	}
	if s.UsedMetaBlocks, s.TotalMetaBlocks, err = parseRatio(f[1]); err != nil {
		return PoolStatus{}, fmt.Errorf("thin-pool status: metadata blocks: %w", err)
	}
	if s.UsedDataBlocks, s.TotalDataBlocks, err = parseRatio(f[2]); err != nil {
		return PoolStatus{}, fmt.Errorf("thin-pool status: data blocks: %w", err)
	}
	if f[3] != "-" {
		if s.HeldRoot, err = parseDecimal(f[3]); err != nil {
			return PoolStatus{}, fmt.Errorf("thin-pool status: held root: %w", err)
		}
		// The kernel prints "-" for root 0: block 0 is the superblock and
		// can never be a held root.
		if s.HeldRoot == 0 {
			return PoolStatus{}, fmt.Errorf("thin-pool status: held root 0")
		}
		s.HasHeldRoot = true
	}
	switch m := PoolMode(f[4]); m {
	case ModeRW, ModeRO, ModeOutOfDataSpace:
		s.Mode = m
	default:
		return PoolStatus{}, fmt.Errorf("thin-pool status: unknown mode %q", f[4])
	}
	switch d := DiscardMode(f[5]); d {
	case DiscardPassdown, DiscardNoPassdown, DiscardIgnore:
		s.Discard = d
	default:
		return PoolStatus{}, fmt.Errorf("thin-pool status: unknown discard mode %q", f[5])
	}
	switch f[6] {
	case "error_if_no_space":
		s.ErrorIfNoSpace = true
	case "queue_if_no_space":
	default:
		return PoolStatus{}, fmt.Errorf("thin-pool status: unknown no-space mode %q", f[6])
	}
	switch f[7] {
	case "needs_check":
		s.NeedsCheck = true
	case "-":
	default:
		return PoolStatus{}, fmt.Errorf("thin-pool status: unknown needs_check field %q", f[7])
	}
	if s.MetaLowWater, err = parseDecimal(f[8]); err != nil {
		return PoolStatus{}, fmt.Errorf("thin-pool status: metadata low water mark: %w", err)
	}
	return s, nil
}

// ThinStatus is a parsed thin status line: "<mapped sectors> <highest
// mapped sector|->", or "-" for a thin device without a pool device, or
// Fail / Error.
type ThinStatus struct {
	MappedSectors uint64
	// HighestMapped is the last sector of the highest mapped block; valid
	// only when HasMapped.
	HighestMapped uint64
	HasMapped     bool
	// Fail is set for "Fail", Error for "Error", Inactive for "-".
	Fail     bool
	Error    bool
	Inactive bool
}

// String formats the status byte for byte as the kernel's thin_status.
func (s ThinStatus) String() string {
	switch {
	case s.Fail:
		return "Fail"
	case s.Error:
		return "Error"
	case s.Inactive:
		return "-"
	case s.HasMapped:
		return fmt.Sprintf("%d %d", s.MappedSectors, s.HighestMapped)
	default:
		return fmt.Sprintf("%d -", s.MappedSectors)
	}
}

// ParseThinStatus parses a thin status line exactly.
func ParseThinStatus(line string) (ThinStatus, error) {
	trimmed := strings.TrimSpace(line)
	switch trimmed {
	case "Fail":
		return ThinStatus{Fail: true}, nil
	case "Error":
		return ThinStatus{Error: true}, nil
	case "-":
		return ThinStatus{Inactive: true}, nil
	}
	f := strings.Fields(trimmed)
	if len(f) != 2 {
		return ThinStatus{}, fmt.Errorf("thin status: want 2 fields, got %d in %q", len(f), line)
	}
	var s ThinStatus
	var err error
	if s.MappedSectors, err = parseDecimal(f[0]); err != nil {
		return ThinStatus{}, fmt.Errorf("thin status: mapped sectors: %w", err)
	}
	if f[1] != "-" {
		if s.HighestMapped, err = parseDecimal(f[1]); err != nil {
			return ThinStatus{}, fmt.Errorf("thin status: highest mapped sector: %w", err)
		}
		s.HasMapped = true
		if s.MappedSectors == 0 {
			return ThinStatus{}, fmt.Errorf("thin status: highest mapped sector %d with nothing mapped", s.HighestMapped)
		}
		// highest is the last sector of the highest mapped block, so at
		// least mapped sectors lie at or below it. Compared without +1:
		// the kernel's u64 arithmetic can print the last sector 2^64-1.
		if s.HighestMapped < s.MappedSectors-1 {
			return ThinStatus{}, fmt.Errorf("thin status: %d sectors mapped below sector %d", s.MappedSectors, s.HighestMapped)
		}
	} else if s.MappedSectors != 0 {
		return ThinStatus{}, fmt.Errorf("thin status: %d sectors mapped but no highest sector", s.MappedSectors)
	}
	return s, nil
}

// parseDecimal accepts only plain decimal digits (what %llu prints).
func parseDecimal(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a decimal number: %q", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("leading zero in %q", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("number out of range: %q", s)
	}
	return v, nil
}

func parseRatio(s string) (used, total uint64, err error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("want used/total, got %q", s)
	}
	if used, err = parseDecimal(a); err != nil {
		return 0, 0, err
	}
	if total, err = parseDecimal(b); err != nil {
		return 0, 0, err
	}
	if used > total {
		return 0, 0, fmt.Errorf("used %d exceeds total %d", used, total)
	}
	return used, total, nil
}
