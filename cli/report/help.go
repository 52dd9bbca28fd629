package report

import (
	"fmt"
	"io"
	"strings"
)

// writeHelp prints the fields the way `lvs -o help` does: a titled
// section, the kind's _all field first, names padded to the longest.
func (fs *fieldSet[R]) writeHelp(w io.Writer) {
	title := map[Kind]string{
		KindLV: "Logical Volume Fields",
		KindVG: "Volume Group Fields",
		KindPV: "Physical Volume Fields (thinraft nodes)",
	}[fs.kind]
	all := fs.kind.key() + "_all"
	width := len(all)
	for _, f := range fs.fields {
		width = max(width, len(f.id))
	}
	fmt.Fprintf(w, "  %s\n  %s\n", title, strings.Repeat("-", len(title)))
	fmt.Fprintf(w, "    %-*s - %s\n", width, all, "All fields in this section.")
	for _, f := range fs.fields {
		fmt.Fprintf(w, "    %-*s - %s\n", width, f.id, f.desc)
	}
	fmt.Fprintf(w, "  \n  Default: -o %s (sorted by %s)\n", strings.Join(fs.defaults, ","), strings.Join(fs.sort, ","))
}
