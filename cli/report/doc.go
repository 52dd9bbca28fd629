// Package report prints LVM-style reports — lvs, vgs and pvs — of the
// thinraft model: LVM's field names and headings, its 10-letter lv_attr,
// its size units and rounding, its column layout, and its
// --reportformat json shape, so that LVM users and their scripts read
// thinraft's reports as they read LVM's.
//
// Imports: metadata and the standard library only. The package knows
// nothing of HTTP, the API client or the CLI framework: the cli commands
// gather model values, build rows (BuildLVRows, BuildVGRows, BuildPVRows),
// filter them by name, and call LVs, VGs or PVs with the user's Options.
//
// # Design
//
// Each report kind has a field set: an ordered table of fieldDef (LVM's
// field id, heading, minimum width, value type, -o help text, and a getter
// from the row type), plus LVM's default columns and sort keys. Field
// lists (-o, -O) are resolved against it with LVM's rules: a plain list
// replaces, +list appends, -list removes, #list compacts (drops a column
// blank in every row), the last -O wins, names may omit the kind's prefix
// (name = lv_name), lv_all expands, help returns ErrHelp. Unknown names
// are a one-line *FieldError naming "lvs -o help".
//
// Getters return typed cells (string, number, size in bytes, percent,
// binary, time, string list), never text, so one table prints in every
// format: the type decides alignment (numbers and sizes right, all else
// left, as libdevmapper does), sorting (numerically, undefined last), and
// json_std's rendering (bare numbers, null, arrays). Sizes become text
// only at print time, under --units, with libdevmapper's
// dm_size_to_string rules (1024-based lower case, 1000-based upper case,
// '<' with the default units "r" when two decimals round up, "0 " for a
// human zero). Percentages follow dm_make_percent and
// dm_percent_to_round_float (never 0.00 for some use, never 100.00 for
// less than all).
//
// The layouts are libdevmapper's: every line starts with LVM's two-space
// log indent; aligned columns pad every field, the last one too;
// headings are left-aligned; no rows print nothing in basic format and an
// empty array in JSON. The JSON frame is LVM's, line for line, 4-space
// indents, one row object per line. testdata/lvm2 holds lvm2 2.03.16's
// own output for a thin VG, and TestLVM2Conformance prints the same VG
// from thinraft rows and compares byte for byte.
//
// Where thinraft's model differs from the kernel view LVM reports from,
// the choices (attr letters for a node that is down, a quarantined pool,
// a failed volume; Data% of inactive volumes; VG and PV sizes; json_std
// sizes in bytes) are in docs/reports.md.
package report
