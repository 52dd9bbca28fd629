package report

import (
	"slices"
	"strings"
	"time"
)

// Kind is a report's subject: LVs (lvs), VGs (vgs) or PVs (pvs, which in
// thinraft lists nodes).
type Kind int

// Report kinds.
const (
	KindLV Kind = iota
	KindVG
	KindPV
)

// key is the report's name in LVM's JSON ({"report":[{"lv":[...]}]}).
func (k Kind) key() string {
	switch k {
	case KindVG:
		return "vg"
	case KindPV:
		return "pv"
	}
	return "lv"
}

// Command is the LVM command that prints this kind of report.
func (k Kind) Command() string { return k.key() + "s" }

// ftype is a field's value type. It decides alignment (numbers and sizes
// right, everything else left, as libdevmapper does), sorting, and how
// json_std prints the value.
type ftype int

const (
	tString ftype = iota
	tNumber
	tSize
	tPercent
	tBinary
	tTime
	tList
)

// cell is one field's value in one row.
type cell struct {
	s   string    // tString, tPercent (formatted; "" = undefined)
	n   uint64    // tNumber, tSize
	f   float64   // tPercent sort value
	b   bool      // tBinary
	t   time.Time // tTime
	set bool      // tNumber, tSize, tBinary, tTime: a value is defined
	// list is tList's items, shown sorted as LVM shows tags.
	list []string
	// sortKey, when set, sorts a tString instead of s (a hidden LV sorts
	// by its name without the brackets, as in LVM).
	sortKey string
}

func str(s string) cell           { return cell{s: s} }
func num(n uint64) cell           { return cell{n: n, set: true} }
func size(n uint64) cell          { return cell{n: n, set: true} }
func bin(b bool) cell             { return cell{b: b, set: true} }
func when(t time.Time) cell       { return cell{t: t, set: !t.IsZero()} }
func list(items []string) cell    { return cell{list: slices.Sorted(slices.Values(items))} }
func pct(used, total uint64) cell { s, f := percent(used, total); return cell{s: s, f: f} }

// undef is an undefined value of any type: blank in basic and json output,
// null in json_std ("unknown" or -1 for a binary field, as LVM).
var undef = cell{f: -1}

// fieldDef is one report field: LVM's field name, column heading, minimum
// width (0: the heading's), type and description (-o help), and how to
// get its value from a row.
type fieldDef[R any] struct {
	id      string
	heading string
	width   int
	typ     ftype
	// word is a binary field's text when set ("active", "zero").
	word string
	desc string
	get  func(*R) cell
}

func (f *fieldDef[R]) minWidth() int {
	if f.width > 0 {
		return f.width
	}
	return len(f.heading)
}

// fieldSet is one kind's fields, its default columns and sort order, and
// the prefix LVM lets users omit ("-o name,size" means lv_name,lv_size).
type fieldSet[R any] struct {
	kind     Kind
	fields   []fieldDef[R]
	defaults []string
	sort     []string
	prefix   string
}

// lookup finds a field by name, case-insensitively, also without the
// kind's prefix, and ignoring underscores as libdm's report does
// (_get_canonical_field_name): "chunksize" is chunk_size (lvmthin(7)).
func (fs *fieldSet[R]) lookup(name string) (*fieldDef[R], bool) {
	canon := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "") }
	name = canon(name)
	for _, cand := range []string{name, canon(fs.prefix) + name} {
		for i := range fs.fields {
			if canon(fs.fields[i].id) == cand {
				return &fs.fields[i], true
			}
		}
	}
	return nil, false
}

// all is the list of every field of the kind (lv_all, vg_all, pv_all).
func (fs *fieldSet[R]) all() []string {
	out := make([]string, 0, len(fs.fields))
	for _, f := range fs.fields {
		out = append(out, f.id)
	}
	return out
}
