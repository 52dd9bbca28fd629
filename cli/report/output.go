package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Output layouts follow libdevmapper's report writer: every line starts
// with the two-space indent LVM's log_print gives it; aligned columns pad
// every field (the last too) to the column width, numbers and sizes
// right-aligned, everything else left; headings are always left-aligned.

// basic prints the columns-and-rows report. No rows, no output (not even
// headings), as LVM.
func (p printer) basic(w io.Writer, t table) error {
	if len(t.cells) == 0 {
		return nil
	}
	sep := p.o.Separator
	aligned := sep == "" || p.o.Aligned
	if sep == "" {
		sep = " "
	}
	if p.o.NamePrefixes {
		aligned = false
	}
	texts := make([][]string, len(t.cells))
	widths := make([]int, len(t.cols))
	for i, col := range t.cols {
		widths[i] = col.width
	}
	for r, line := range t.cells {
		texts[r] = make([]string, len(line))
		for i, c := range line {
			s := p.text(t.cols[i], c)
			texts[r][i] = s
			widths[i] = max(widths[i], len(s))
		}
	}
	bw := bufio.NewWriter(w)
	if !p.o.NoHeadings {
		bw.WriteString("  ")
		for i, col := range t.cols {
			if i > 0 {
				bw.WriteString(sep)
			}
			h := col.heading
			if aligned {
				h = fmt.Sprintf("%-*.*s", widths[i], widths[i], h)
			}
			bw.WriteString(h)
		}
		bw.WriteString("\n")
	}
	quote := "'"
	if p.o.Unquoted {
		quote = ""
	}
	for _, line := range texts {
		bw.WriteString("  ")
		for i, s := range line {
			if i > 0 {
				bw.WriteString(sep)
			}
			if p.o.NamePrefixes {
				bw.WriteString("LVM2_" + strings.ToUpper(t.cols[i].id) + "=" + quote + s + quote)
				continue
			}
			pad := ""
			if aligned {
				pad = strings.Repeat(" ", widths[i]-len(s))
			}
			if t.cols[i].typ == tNumber || t.cols[i].typ == tSize || t.cols[i].typ == tBinary {
				bw.WriteString(pad + s)
			} else {
				bw.WriteString(s + pad)
			}
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}

// json prints LVM's JSON report: a 4-space indented frame with one row
// object per line, every value a string ("json"), or numbers as numbers,
// null for undefined numbers and string lists as arrays ("json_std").
func (p printer) json(w io.Writer, t table) error {
	std := p.o.Format == FormatJSONStd
	bw := bufio.NewWriter(w)
	line := func(indent int, s string) {
		bw.WriteString("  " + strings.Repeat(" ", indent) + s + "\n")
	}
	line(0, "{")
	line(4, `"report": [`)
	line(8, "{")
	line(12, jsonString(t.kind.key())+": [")
	for r, cells := range t.cells {
		var b strings.Builder
		b.WriteString("{")
		for i, c := range cells {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(jsonString(t.cols[i].id) + ":")
			if std {
				b.WriteString(p.stdValue(t.cols[i], c))
			} else {
				b.WriteString(jsonString(p.text(t.cols[i], c)))
			}
		}
		b.WriteString("}")
		if r < len(t.cells)-1 {
			b.WriteString(",")
		}
		line(16, b.String())
	}
	line(12, "]")
	line(8, "}")
	line(4, "]")
	line(0, "}")
	return bw.Flush()
}

// stdValue is a json_std value: numbers, percentages and binary values
// bare (null or -1 when undefined), sizes in bytes as numbers when no
// --units was given (a thinraft choice: LVM keeps sizes as strings in
// the current units), string lists as arrays.
func (p printer) stdValue(col column, c cell) string {
	switch col.typ {
	case tNumber:
		if !c.set {
			return "null"
		}
		return strconv.FormatUint(c.n, 10)
	case tSize:
		switch {
		case p.o.Units != "":
			return jsonString(p.text(col, c))
		case !c.set:
			return "null"
		}
		return strconv.FormatUint(c.n, 10)
	case tPercent:
		if c.s == "" {
			return "null"
		}
		return c.s
	case tBinary:
		switch {
		case !c.set:
			return "-1"
		case c.b:
			return "1"
		}
		return "0"
	case tList:
		items := make([]string, len(c.list))
		for i, s := range c.list {
			items[i] = jsonString(s)
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	return jsonString(p.text(col, c))
}

// jsonString quotes s as LVM does (escaping backslash and double quote)
// and also escapes control characters, which LVM would pass through and
// leave the output unparseable.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
