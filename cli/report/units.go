package report

import (
	"fmt"
	"math"
	"strconv"
)

// units is a parsed --units value: LVM's [Number]r|R|h|H|b|B|s|S|k|K|m|M|
// g|G|t|T|p|P|e|E (lvs(8)). The rules are libdevmapper's
// dm_size_to_string with si_unit_consistency=1 (lvm.conf's default):
// lower case is powers of 1024, upper case powers of 1000, b/B bytes and
// s/S sectors in either case.
type units struct {
	// human is r, R, h or H: the unit picked per value. 0 otherwise.
	human byte
	// factor is the bytes per unit for a fixed unit (with a custom number,
	// "3M" is 3,000,000).
	factor uint64
	// suffix is the letter printed after a fixed-unit value.
	suffix string
	// decimals is 0 for bytes and sectors, 2 otherwise.
	decimals int
}

// defaultUnits is lvm.conf's global/units default: human-readable with
// the '<' rounding indicator.
const defaultUnits = "r"

// unitLetters maps a fixed unit letter to its factor and suffix.
func unitLetter(c byte) (factor uint64, suffix string, ok bool) {
	switch c {
	case 'b', 'B':
		return 1, "B", true
	case 's', 'S':
		return 512, "S", true
	case 'k':
		return 1 << 10, "k", true
	case 'm':
		return 1 << 20, "m", true
	case 'g':
		return 1 << 30, "g", true
	case 't':
		return 1 << 40, "t", true
	case 'p':
		return 1 << 50, "p", true
	case 'e':
		return 1 << 60, "e", true
	case 'K':
		return 1e3, "K", true
	case 'M':
		return 1e6, "M", true
	case 'G':
		return 1e9, "G", true
	case 'T':
		return 1e12, "T", true
	case 'P':
		return 1e15, "P", true
	case 'E':
		return 1e18, "E", true
	}
	return 0, "", false
}

// parseUnits parses a --units value; "" is LVM's default ("r").
func parseUnits(s string) (units, error) {
	if s == "" {
		s = defaultUnits
	}
	bad := func() (units, error) {
		return units{}, &OptionError{Option: "--units", Value: s,
			Want: "one of r R h H b B s S k K m M g G t T p P e E, optionally after a number (3M)"}
	}
	letter := s[len(s)-1]
	num := s[:len(s)-1]
	switch letter {
	case 'r', 'R', 'h', 'H':
		if num != "" {
			return bad()
		}
		return units{human: letter, decimals: 2}, nil
	}
	factor, suffix, ok := unitLetter(letter)
	if !ok {
		return bad()
	}
	if num != "" {
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n == 0 || n > math.MaxUint64/factor {
			return bad()
		}
		factor *= n
	}
	u := units{factor: factor, suffix: suffix, decimals: 2}
	if suffix == "B" || suffix == "S" {
		u.decimals = 0
	}
	return u, nil
}

// human unit letters from the largest down, as dm_size_to_string walks
// them; the last is bytes.
var (
	binaryLetters  = [...]string{"e", "p", "t", "g", "m", "k", "b"}
	decimalLetters = [...]string{"E", "P", "T", "G", "M", "K", "B"}
)

// format prints a size in bytes the way LVM prints sizes in reports.
// noSuffix drops the unit letter (ignored for human units, as in LVM).
func (u units) format(bytes uint64, noSuffix bool) string {
	if bytes == 0 {
		// LVM prints zero as "0" plus the unit, and a human "0" with a
		// blank where the unit would be.
		switch {
		case noSuffix:
			return "0"
		case u.human != 0:
			return "0 "
		}
		return "0" + u.suffix
	}
	if u.human == 0 {
		return fmt.Sprintf("%.*f", u.decimals, float64(bytes)/float64(u.factor)) + suffixIf(u.suffix, !noSuffix)
	}
	base := uint64(1024)
	letters := binaryLetters
	if u.human == 'H' || u.human == 'R' {
		base = 1000
		letters = decimalLetters
	}
	unit := base * base * base * base * base * base
	s := 0
	for ; s < 6 && bytes < unit; s++ {
		unit /= base
	}
	prefix := ""
	if s < 6 && (u.human == 'r' || u.human == 'R') {
		// '<' when printing two decimals rounded the value up.
		d := 100 * float64(bytes) / float64(unit)
		if math.Floor(d) != math.RoundToEven(d) {
			prefix = "<"
		}
	}
	decimals := 2
	if s == 6 {
		decimals = 0
	}
	return prefix + fmt.Sprintf("%.*f", decimals, float64(bytes)/float64(unit)) + letters[s]
}

func suffixIf(s string, ok bool) string {
	if ok {
		return s
	}
	return ""
}

// percent formats used/total as LVM's Data% and Meta%: two decimals, never
// 0.00 for a non-zero use nor 100.00 for less than all
// (dm_make_percent, dm_percent_to_round_float).
func percent(used, total uint64) (string, float64) {
	if total == 0 {
		return "", -1
	}
	const one = 1000000 // DM_PERCENT_1
	var p int64
	switch {
	case used == 0:
		p = 0
	case used >= total:
		p = 100 * one
	default:
		p = int64(100 * one * (float64(used) / float64(total)))
		if p == 100*one {
			p--
		}
		if p == 0 {
			p = 1
		}
	}
	f := float32(p) / one
	const r = one / 100 // 0.01%
	switch {
	case p > 0 && p < r:
		f = 0.01
	case p > 100*one-r && p < 100*one:
		f = float32(100*one-r) / one
	}
	return strconv.FormatFloat(float64(f), 'f', 2, 32), float64(f)
}
