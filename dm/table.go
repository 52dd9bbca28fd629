package dm

import (
	"fmt"
	"strconv"
	"strings"
)

// Target types thinraft builds tables from.
const (
	TargetThinPool = "thin-pool"
	TargetThin     = "thin"
	TargetLinear   = "linear"
)

// Pool data block size limits, in sectors (64 KiB .. 1 GiB, multiples of 64 KiB).
const (
	MinDataBlockSectors = 128
	MaxDataBlockSectors = 2 * 1024 * 1024
	// MetadataBlockSize is the pool metadata block size in bytes.
	MetadataBlockSize = 4096
	// MaxPoolFeatureArgs is the most feature arguments a thin-pool table takes.
	MaxPoolFeatureArgs = 4
)

// Table is a device's mapping table: targets in sector order.
type Table []Target

// Target is one line of a table: Length sectors from Start mapped by the
// target Type with Params (the text after the type, as dmsetup shows it).
type Target struct {
	Start  uint64
	Length uint64
	Type   string
	Params string
}

// String formats the target as a dmsetup table line.
func (t Target) String() string {
	return fmt.Sprintf("%d %d %s %s", t.Start, t.Length, t.Type, t.Params)
}

// String formats the table as dmsetup does, one line per target.
func (t Table) String() string {
	lines := make([]string, len(t))
	for i, tg := range t {
		lines[i] = tg.String()
	}
	return strings.Join(lines, "\n")
}

// Size returns the table's length in sectors.
func (t Table) Size() uint64 {
	var n uint64
	for _, tg := range t {
		n += tg.Length
	}
	return n
}

// PoolFeatures are the thin-pool feature arguments.
type PoolFeatures struct {
	SkipBlockZeroing  bool
	IgnoreDiscard     bool
	NoDiscardPassdown bool
	ReadOnly          bool
	ErrorIfNoSpace    bool
}

// args returns the feature words in the order the kernel emits them.
func (f PoolFeatures) args() []string {
	var a []string
	if f.SkipBlockZeroing {
		a = append(a, "skip_block_zeroing")
	}
	if f.IgnoreDiscard {
		a = append(a, "ignore_discard")
	}
	if f.NoDiscardPassdown {
		a = append(a, "no_discard_passdown")
	}
	if f.ReadOnly {
		a = append(a, "read_only")
	}
	if f.ErrorIfNoSpace {
		a = append(a, "error_if_no_space")
	}
	return a
}

// ThinPoolParams are the parameters of a thin-pool target:
// "<metadata dev> <data dev> <block size> <low water mark> [<#features> <feature>...]".
type ThinPoolParams struct {
	MetadataDev string
	DataDev     string
	// DataBlockSectors is the pool chunk size in 512-byte sectors.
	DataBlockSectors uint64
	// LowWaterMark is in data blocks: when free data blocks fall to it the
	// pool raises an event.
	LowWaterMark uint64
	Features     PoolFeatures
}

// String formats the params as the kernel's table line.
func (p ThinPoolParams) String() string {
	s := fmt.Sprintf("%s %s %d %d", p.MetadataDev, p.DataDev, p.DataBlockSectors, p.LowWaterMark)
	a := p.Features.args()
	s += fmt.Sprintf(" %d", len(a))
	for _, w := range a {
		s += " " + w
	}
	return s
}

// Target returns a one-target thin-pool line of length sectors.
func (p ThinPoolParams) Target(length uint64) Target {
	return Target{Length: length, Type: TargetThinPool, Params: p.String()}
}

// Validate applies the kernel constructor's argument checks that do not
// need the devices. The error text is the kernel's ti->error.
func (p ThinPoolParams) Validate() error {
	if p.MetadataDev == "" || p.DataDev == "" {
		return fmt.Errorf("Error setting metadata or data device")
	}
	if p.MetadataDev == p.DataDev {
		return fmt.Errorf("Error setting metadata or data device")
	}
	b := p.DataBlockSectors
	if b < MinDataBlockSectors || b > MaxDataBlockSectors || b&(MinDataBlockSectors-1) != 0 {
		return fmt.Errorf("Invalid block size")
	}
	if len(p.Features.args()) > MaxPoolFeatureArgs {
		return fmt.Errorf("Invalid number of pool feature arguments")
	}
	return nil
}

// ParseThinPoolParams parses thin-pool target params with the kernel's
// rules (feature words case-insensitive, count checked, at most 4).
func ParseThinPoolParams(s string) (ThinPoolParams, error) {
	f := strings.Fields(s)
	if len(f) < 4 {
		return ThinPoolParams{}, fmt.Errorf("thin-pool: Invalid argument count")
	}
	p := ThinPoolParams{MetadataDev: f[0], DataDev: f[1]}
	var err error
	if p.DataBlockSectors, err = parseKernelUint(f[2]); err != nil {
		return ThinPoolParams{}, fmt.Errorf("thin-pool: Invalid block size")
	}
	if p.LowWaterMark, err = parseKernelUint(f[3]); err != nil {
		return ThinPoolParams{}, fmt.Errorf("thin-pool: Invalid low water mark")
	}
	rest := f[4:]
	if len(rest) > 0 {
		// The kernel reads the count with sscanf("%u"): digits only, no
		// sign. It then reads that many words and ignores any after them.
		n, err := strconv.Atoi(rest[0])
		if err != nil || !isDigits(rest[0]) || n > MaxPoolFeatureArgs {
			return ThinPoolParams{}, fmt.Errorf("thin-pool: Invalid number of pool feature arguments")
		}
		if n > len(rest)-1 {
			return ThinPoolParams{}, fmt.Errorf("thin-pool: Not enough arguments")
		}
		for _, w := range rest[1 : 1+n] {
			switch asciiLower(w) {
			case "skip_block_zeroing":
				p.Features.SkipBlockZeroing = true
			case "ignore_discard":
				p.Features.IgnoreDiscard = true
			case "no_discard_passdown":
				p.Features.NoDiscardPassdown = true
			case "read_only":
				p.Features.ReadOnly = true
			case "error_if_no_space":
				p.Features.ErrorIfNoSpace = true
			default:
				return ThinPoolParams{}, fmt.Errorf("thin-pool: Unrecognised pool feature requested: %s", w)
			}
		}
	}
	if err := p.Validate(); err != nil {
		return ThinPoolParams{}, fmt.Errorf("thin-pool: %w", err)
	}
	return p, nil
}

// ThinParams are the parameters of a thin target:
// "<pool dev> <dev id> [<external origin dev>]".
type ThinParams struct {
	PoolDev        string
	ID             uint32
	ExternalOrigin string
}

// String formats the params as the kernel's table line.
func (p ThinParams) String() string {
	s := fmt.Sprintf("%s %d", p.PoolDev, p.ID)
	if p.ExternalOrigin != "" {
		s += " " + p.ExternalOrigin
	}
	return s
}

// Target returns a one-target thin line of length sectors.
func (p ThinParams) Target(length uint64) Target {
	return Target{Length: length, Type: TargetThin, Params: p.String()}
}

// ParseThinParams parses thin target params.
func ParseThinParams(s string) (ThinParams, error) {
	f := strings.Fields(s)
	if len(f) != 2 && len(f) != 3 {
		return ThinParams{}, fmt.Errorf("thin: Invalid argument count")
	}
	id, err := parseThinID(f[1])
	if err != nil {
		return ThinParams{}, fmt.Errorf("thin: Invalid device id")
	}
	p := ThinParams{PoolDev: f[0], ID: uint32(id)}
	if len(f) == 3 {
		p.ExternalOrigin = f[2]
	}
	return p, nil
}

// LinearParams are the parameters of a linear target: "<dev> <offset>".
type LinearParams struct {
	Dev    string
	Offset uint64 // sectors
}

// String formats the params as the kernel's table line.
func (p LinearParams) String() string { return fmt.Sprintf("%s %d", p.Dev, p.Offset) }

// Target returns a one-target linear line of length sectors.
func (p LinearParams) Target(length uint64) Target {
	return Target{Length: length, Type: TargetLinear, Params: p.String()}
}

// ParseLinearParams parses linear target params.
func ParseLinearParams(s string) (LinearParams, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return LinearParams{}, fmt.Errorf("linear: Invalid argument count")
	}
	off, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return LinearParams{}, fmt.Errorf("linear: Invalid device sector")
	}
	return LinearParams{Dev: f[0], Offset: off}, nil
}

// ParseTable parses dmsetup-style table text, one target per line
// ("<start> <length> <type> <params...>"). Blank lines and lines starting
// with '#' are skipped. Targets must be contiguous from sector 0.
func ParseTable(text string) (Table, error) {
	var t Table
	var next uint64
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("table line %d: want <start> <length> <type> [params], got %q", i+1, line)
		}
		start, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("table line %d: bad start %q", i+1, f[0])
		}
		length, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil || length == 0 {
			return nil, fmt.Errorf("table line %d: bad length %q", i+1, f[1])
		}
		if start != next {
			return nil, fmt.Errorf("table line %d: gap or overlap: starts at %d, expected %d", i+1, start, next)
		}
		next = start + length
		t = append(t, Target{Start: start, Length: length, Type: f[2], Params: strings.Join(f[3:], " ")})
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("empty table")
	}
	return t, nil
}

// asciiLower folds ASCII letters only, as the kernel's strcasecmp does;
// strings.ToLower would also fold e.g. the Kelvin sign into 'k'.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
