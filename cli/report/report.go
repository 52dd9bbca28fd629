package report

import (
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options are lvs/vgs/pvs's report options (lvmreport(7)); the zero
// value prints LVM's default report.
type Options struct {
	// Fields are the -o values in the order given; Sort the -O values
	// (the last wins). Empty: the kind's defaults.
	Fields, Sort []string
	// Units is --units ("" = "r", LVM's default: human-readable with '<'
	// when a value was rounded up).
	Units string
	// NoSuffix drops unit letters from sizes (not from human units).
	NoSuffix bool
	// NoHeadings drops the heading line (basic format).
	NoHeadings bool
	// Separator is --separator; "" means the default single space with
	// columns aligned. Aligned aligns columns with a Separator too.
	Separator string
	Aligned   bool
	// NamePrefixes prints LVM2_FIELD='value' pairs (--nameprefixes,
	// unaligned); Unquoted drops the quotes (--unquoted).
	NamePrefixes, Unquoted bool
	// Binary prints 0/1 for binary fields (--binary).
	Binary bool
	// Format is --reportformat: "basic" (or ""), "json" or "json_std".
	Format string
	// Location is the time zone of time fields (nil: local time).
	Location *time.Location
}

// Report formats (--reportformat).
const (
	FormatBasic   = "basic"
	FormatJSON    = "json"
	FormatJSONStd = "json_std"
)

// LVs prints an lvs report of rows to w.
func LVs(w io.Writer, rows []LVRow, o Options) error { return run(w, lvFieldSet(), rows, o) }

// VGs prints a vgs report of rows to w.
func VGs(w io.Writer, rows []VGRow, o Options) error { return run(w, vgFieldSet(), rows, o) }

// PVs prints a pvs report (nodes) of rows to w.
func PVs(w io.Writer, rows []PVRow, o Options) error { return run(w, pvFieldSet(), rows, o) }

// column is a field chosen for output.
type column struct {
	id, heading string
	width       int
	typ         ftype
	word        string
}

// table is a report ready to print: columns and, per row, one cell per
// column.
type table struct {
	kind  Kind
	cols  []column
	cells [][]cell
}

func run[R any](w io.Writer, fs *fieldSet[R], rows []R, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	u, err := parseUnits(o.Units)
	if err != nil {
		return err
	}
	ids, compact, err := parseFields(fs, fs.kind, o.Fields)
	if err != nil {
		return err
	}
	keys, err := parseSort(fs, fs.kind, o.Sort)
	if err != nil {
		return err
	}
	defs := make([]*fieldDef[R], len(ids))
	t := table{kind: fs.kind}
	for i, id := range ids {
		defs[i], _ = fs.lookup(id)
		f := defs[i]
		t.cols = append(t.cols, column{id: f.id, heading: f.heading, width: f.minWidth(), typ: f.typ, word: f.word})
	}
	for _, r := range sortRows(fs, rows, keys) {
		line := make([]cell, len(defs))
		for i, f := range defs {
			line[i] = f.get(r)
		}
		t.cells = append(t.cells, line)
	}
	p := printer{o: o, u: u}
	t = p.compact(t, compact)
	switch o.Format {
	case FormatJSON, FormatJSONStd:
		return p.json(w, t)
	}
	return p.basic(w, t)
}

func (o Options) check() error {
	switch o.Format {
	case "", FormatBasic, FormatJSON, FormatJSONStd:
		return nil
	}
	return &OptionError{Option: "--reportformat", Value: o.Format, Want: "basic, json or json_std"}
}

// sortRows returns rows ordered by keys, stably (rows equal on every key
// keep the caller's order). Each row's key values are computed once.
func sortRows[R any](fs *fieldSet[R], rows []R, keys []sortKey) []*R {
	defs := make([]*fieldDef[R], len(keys))
	for i, k := range keys {
		defs[i], _ = fs.lookup(k.field)
	}
	type keyed struct {
		row  *R
		pos  int
		keys []cell
	}
	ks := make([]keyed, len(rows))
	for i := range rows {
		ks[i] = keyed{row: &rows[i], pos: i, keys: make([]cell, len(defs))}
		for j, d := range defs {
			ks[i].keys[j] = d.get(&rows[i])
		}
	}
	// The position tie-break makes the (faster) unstable sort stable.
	slices.SortFunc(ks, func(a, b keyed) int {
		for i, k := range keys {
			c := compareCells(defs[i].typ, a.keys[i], b.keys[i])
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return cmp.Compare(a.pos, b.pos)
	})
	out := make([]*R, len(ks))
	for i := range ks {
		out[i] = ks[i].row
	}
	return out
}

// compareCells orders two values of a field: strings by text, numbers by
// value with undefined last (LVM sorts an undefined number as its
// reserved value, the largest).
func compareCells(t ftype, a, b cell) int {
	switch t {
	case tNumber, tSize:
		if a.set != b.set {
			if a.set {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.n, b.n)
	case tPercent:
		return cmp.Compare(a.f, b.f)
	case tBinary:
		return cmp.Compare(binRank(a), binRank(b))
	case tTime:
		return a.t.Compare(b.t)
	case tList:
		return strings.Compare(strings.Join(a.list, ","), strings.Join(b.list, ","))
	}
	return strings.Compare(sortText(a), sortText(b))
}

func binRank(c cell) int {
	switch {
	case !c.set:
		return 2
	case c.b:
		return 1
	}
	return 0
}

func sortText(c cell) string {
	if c.sortKey != "" {
		return c.sortKey
	}
	return c.s
}

// printer turns cells into text under the options.
type printer struct {
	o Options
	u units
}

// text is a cell as basic and json output print it.
func (p printer) text(col column, c cell) string {
	switch col.typ {
	case tNumber:
		if !c.set {
			return ""
		}
		return strconv.FormatUint(c.n, 10)
	case tSize:
		if !c.set {
			return ""
		}
		return p.u.format(c.n, p.o.NoSuffix)
	case tBinary:
		switch {
		case !c.set && p.o.Binary:
			return "-1"
		case !c.set:
			return "unknown"
		case p.o.Binary && c.b:
			return "1"
		case p.o.Binary:
			return "0"
		case c.b:
			return col.word
		}
		return ""
	case tTime:
		if !c.set {
			return ""
		}
		loc := p.o.Location
		if loc == nil {
			loc = time.Local
		}
		// lvm.conf's report/time_format default, "%Y-%m-%d %T %z".
		return c.t.In(loc).Format("2006-01-02 15:04:05 -0700")
	case tList:
		return strings.Join(c.list, ",")
	}
	return c.s
}

// compact drops the columns marked with -o# whose every value is blank.
func (p printer) compact(t table, compact map[string]bool) table {
	if len(compact) == 0 {
		return t
	}
	var keep []int
	for i, col := range t.cols {
		blank := compact[col.id]
		for _, line := range t.cells {
			if !blank {
				break
			}
			blank = p.text(col, line[i]) == ""
		}
		if !blank {
			keep = append(keep, i)
		}
	}
	out := table{kind: t.kind}
	for _, i := range keep {
		out.cols = append(out.cols, t.cols[i])
	}
	for _, line := range t.cells {
		nl := make([]cell, 0, len(keep))
		for _, i := range keep {
			nl = append(nl, line[i])
		}
		out.cells = append(out.cells, nl)
	}
	return out
}
