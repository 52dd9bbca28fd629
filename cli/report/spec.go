package report

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ErrHelp is returned when a field list asks for help (-o help, -o ?): the
// caller prints FieldHelp and exits 0, as LVM does.
var ErrHelp = errors.New("field help requested")

// FieldError is an unknown or malformed field name in -o/-O.
type FieldError struct {
	Kind  Kind
	Field string
	// Msg replaces the default "unrecognised field" text (empty name etc.).
	Msg string
}

func (e *FieldError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("%s: see '%s -o help' for the fields", e.Msg, e.Kind.Command())
	}
	return fmt.Sprintf("unrecognised field: %q: see '%s -o help' for the fields", e.Field, e.Kind.Command())
}

// OptionError is a bad value for a report option (--units, --reportformat,
// --separator).
type OptionError struct {
	Option, Value, Want string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("invalid %s %q: want %s", e.Option, e.Value, e.Want)
}

// catalog is what field-list parsing and help need of a kind's fields,
// whatever its row type.
type catalog interface {
	canonical(name string) (string, bool)
	defaultFields() []string
	defaultSort() []string
	allFields() []string
	writeHelp(w io.Writer)
}

func (fs *fieldSet[R]) canonical(name string) (string, bool) {
	if f, ok := fs.lookup(name); ok {
		return f.id, true
	}
	return "", false
}
func (fs *fieldSet[R]) defaultFields() []string { return slices.Clone(fs.defaults) }
func (fs *fieldSet[R]) defaultSort() []string   { return slices.Clone(fs.sort) }
func (fs *fieldSet[R]) allFields() []string     { return fs.all() }

func catalogFor(k Kind) catalog {
	switch k {
	case KindVG:
		return vgFieldSet()
	case KindPV:
		return pvFieldSet()
	}
	return lvFieldSet()
}

// ParseFields applies -o values in order to kind's default field list and
// returns the fields to show, as LVM does: "a,b" replaces the list, "+a,b"
// appends, "-a,b" removes, "#a,b" keeps them but drops them from the
// output when they are blank in every row. Names are LVM's (lv_name, or
// name without the kind's prefix; lv_all for every field); "help" or "?"
// returns ErrHelp.
func ParseFields(kind Kind, specs ...string) ([]string, error) {
	fields, _, err := parseFields(catalogFor(kind), kind, specs)
	return fields, err
}

func parseFields(c catalog, kind Kind, specs []string) (fields []string, compact map[string]bool, err error) {
	fields = c.defaultFields()
	compact = map[string]bool{}
	for _, spec := range specs {
		op := byte(0)
		body := spec
		if body != "" && strings.IndexByte("+-#", body[0]) >= 0 {
			op, body = body[0], body[1:]
		}
		names, err := splitNames(c, kind, spec, body)
		if err != nil {
			return nil, nil, err
		}
		switch op {
		case 0:
			fields = names
		case '+':
			fields = append(fields, names...)
		case '-':
			fields = slices.DeleteFunc(fields, func(f string) bool { return slices.Contains(names, f) })
		case '#':
			for _, n := range names {
				compact[n] = true
			}
		}
	}
	if len(fields) == 0 {
		return nil, nil, &FieldError{Kind: kind, Msg: "no fields left to show"}
	}
	return fields, compact, nil
}

// splitNames resolves a comma-separated list of field names.
func splitNames(c catalog, kind Kind, spec, body string) ([]string, error) {
	var out []string
	for _, raw := range strings.Split(body, ",") {
		name := strings.TrimSpace(raw)
		switch {
		case name == "":
			return nil, &FieldError{Kind: kind, Field: spec, Msg: fmt.Sprintf("empty field name in %q", spec)}
		case name == "help" || name == "?":
			return nil, ErrHelp
		case strings.EqualFold(name, kind.key()+"_all") || strings.EqualFold(name, "all"):
			out = append(out, c.allFields()...)
			continue
		}
		id, ok := c.canonical(name)
		if !ok {
			return nil, &FieldError{Kind: kind, Field: name}
		}
		out = append(out, id)
	}
	return out, nil
}

// sortKey is one -O item.
type sortKey struct {
	field string
	desc  bool
}

// parseSort resolves -O values: the last one given wins (lvmreport(7)); a
// leading - sorts that field descending, + (or nothing) ascending.
func parseSort(c catalog, kind Kind, specs []string) ([]sortKey, error) {
	names := c.defaultSort()
	if len(specs) > 0 {
		names = strings.Split(specs[len(specs)-1], ",")
	}
	out := make([]sortKey, 0, len(names))
	for _, raw := range names {
		name := strings.TrimSpace(raw)
		k := sortKey{}
		if name != "" && (name[0] == '-' || name[0] == '+') {
			k.desc = name[0] == '-'
			name = name[1:]
		}
		if name == "" {
			return nil, &FieldError{Kind: kind, Field: raw, Msg: fmt.Sprintf("empty sort field in %q", specs[len(specs)-1])}
		}
		if name == "help" || name == "?" {
			return nil, ErrHelp
		}
		id, ok := c.canonical(name)
		if !ok {
			return nil, &FieldError{Kind: kind, Field: name}
		}
		k.field = id
		out = append(out, k)
	}
	return out, nil
}

// FieldHelp prints kind's fields with their descriptions, like `lvs -o
// help`.
func FieldHelp(w io.Writer, kind Kind) error {
	catalogFor(kind).writeHelp(w)
	return nil
}
