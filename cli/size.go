package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/thinraft/thinraft/metadata"
)

// Sizes follow lvm(8): a number, optionally with a decimal part, then an
// optional unit letter. Every unit is binary whatever its case (k and K are
// both 1024); b/B is bytes, s/S 512-byte sectors; no letter means the
// option's default unit (MiB for -L/-V, KiB for --chunksize). A leading +
// or - makes the size relative (lvextend, lvreduce).

// Units by letter.
const (
	sector = 512
	kib    = 1 << 10
	mib    = 1 << 20
)

// unitBytes is the size of each unit letter, lower case.
func unitBytes(c byte) (uint64, bool) {
	switch c | 0x20 {
	case 'b':
		return 1, true
	case 's':
		return sector, true
	case 'k':
		return 1 << 10, true
	case 'm':
		return 1 << 20, true
	case 'g':
		return 1 << 30, true
	case 't':
		return 1 << 40, true
	case 'p':
		return 1 << 50, true
	case 'e':
		return 1 << 60, true
	}
	return 0, false
}

// Size is a parsed size argument.
type Size struct {
	// Sign is +1 or -1 for a relative size, 0 for an absolute one.
	Sign  int
	Bytes uint64
}

// ParseSize parses an LVM size with def as the unit of a bare number. The
// result is rounded up to whole 512-byte sectors, the unit every device
// size has.
func ParseSize(s string, def uint64) (Size, error) {
	var out Size
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return out, fmt.Errorf("empty size; give a number with an optional unit, e.g. 10G")
	}
	switch s[0] {
	case '+':
		out.Sign, s = 1, s[1:]
	case '-':
		out.Sign, s = -1, s[1:]
	}
	unit := def
	if n := len(s); n > 0 {
		if u, ok := unitBytes(s[n-1]); ok && (s[n-1] < '0' || s[n-1] > '9') {
			unit, s = u, s[:n-1]
		}
	}
	if s == "" || !numeric(s) {
		return out, fmt.Errorf("size %q: want a number with an optional unit b|s|k|m|g|t|p|e (binary, either case), e.g. 10G or 1.5t", orig)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return out, fmt.Errorf("size %q: %v", orig, err)
	}
	b := v * float64(unit)
	if b > float64(metadata.MaxSizeBytes) {
		return out, fmt.Errorf("size %q is larger than thinraft's limit of %s", orig, human(metadata.MaxSizeBytes))
	}
	n := uint64(math.Ceil(b))
	out.Bytes = (n + sector - 1) / sector * sector
	return out, nil
}

// numeric accepts digits with at most one '.', as LVM's strtod use does
// in practice (no exponents, signs or hex).
func numeric(s string) bool {
	dot := false
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// extentBytes is LVM's default physical extent size: thinraft has no
// extents, so -l N counts in these.
const extentBytes = 4 * mib

// Extents is a parsed -l/--extents argument: a count of 4 MiB extents, or a
// percentage of something (%FREE, %VG, %PVS, %ORIGIN, %LV).
type Extents struct {
	Sign    int
	Count   uint64
	Percent float64
	// Of is "" for a plain count, else FREE, VG, PVS, ORIGIN or LV.
	Of string
}

// ParseExtents parses LVM's -l argument.
func ParseExtents(s string) (Extents, error) {
	var out Extents
	orig := s
	s = strings.TrimSpace(s)
	if s != "" && (s[0] == '+' || s[0] == '-') {
		out.Sign = 1
		if s[0] == '-' {
			out.Sign = -1
		}
		s = s[1:]
	}
	num, of, pct := strings.Cut(s, "%")
	if pct {
		of = strings.ToUpper(of)
		switch of {
		case "FREE", "VG", "PVS", "ORIGIN", "LV":
		default:
			return out, fmt.Errorf("extents %q: want N, N%%LV or N%%ORIGIN (N%%FREE, N%%VG and N%%PVS parse but thinraft VGs have no fixed size)", orig)
		}
		if !numeric(num) {
			return out, fmt.Errorf("extents %q: want a number before %%", orig)
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v <= 0 || v > 1e6 {
			return out, fmt.Errorf("extents %q: percentage out of range", orig)
		}
		out.Percent, out.Of = v, of
		return out, nil
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > metadata.MaxSizeBytes/extentBytes {
		return out, fmt.Errorf("extents %q: want a whole number of 4 MiB extents, or N%%LV / N%%ORIGIN", orig)
	}
	out.Count = n
	return out, nil
}

// Resolve turns extents into bytes: lv is the size of the LV being
// resized (%LV) and origin the size of its origin (%ORIGIN; 0 when it has
// none). The sign stays with the caller.
func (e Extents) Resolve(lv, origin uint64) (uint64, error) {
	switch e.Of {
	case "":
		return e.Count * extentBytes, nil
	case "LV":
		if lv == 0 {
			return 0, fmt.Errorf("%%LV needs an existing LV; use -L SIZE")
		}
		return pct(lv, e.Percent), nil
	case "ORIGIN":
		if origin == 0 {
			return 0, fmt.Errorf("%%ORIGIN applies to a snapshot whose origin still exists; use -L SIZE")
		}
		return pct(origin, e.Percent), nil
	default:
		return 0, fmt.Errorf("%g%%%s: a thinraft VG has no fixed size (pools grow on their nodes); use -L SIZE", e.Percent, e.Of)
	}
}

func pct(base uint64, p float64) uint64 {
	b := math.Ceil(float64(base) * p / 100)
	return (uint64(b) + sector - 1) / sector * sector
}

// human prints bytes the way LVM's messages do: "10.00 GiB", "512.00 MiB",
// "4.00 KiB", "0 " for zero.
func human(b uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	if b < kib {
		return fmt.Sprintf("%d B", b)
	}
	v, i := float64(b), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.2f %s", v, units[i])
}
