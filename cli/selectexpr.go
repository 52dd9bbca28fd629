package cli

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/thinraft/thinraft/cli/report"
)

// lvs -S|--select, the subset of lvmreport(7)'s selection language that
// string fields need: FIELD=VALUE, FIELD!=VALUE, FIELD=~REGEX,
// FIELD!~REGEX, joined by && (or ,) and || (or #), with ! and parentheses.
// VALUE is a word or a quoted string. lv_tags=T holds when the LV carries
// tag T. Numeric and size comparisons are not supported (one-line error).

// selector decides whether a row is selected.
type selector func(r *report.LVRow) bool

// selectFields are the fields -S knows, by canonical name (lower case, no
// underscores, no lv prefix, as field names match in LVM), each giving a
// row's values (several for a list field).
func selectField(name string) (func(r *report.LVRow) []string, bool) {
	n := strings.ReplaceAll(strings.ToLower(name), "_", "")
	n = strings.TrimPrefix(n, "lv")
	switch n {
	case "name":
		return func(r *report.LVRow) []string {
			switch {
			case r.Volume != nil:
				return []string{r.Volume.Name}
			case r.Hidden != "":
				return []string{"[" + r.Pool.Name + "_" + r.Hidden + "]"}
			}
			return []string{r.Pool.Name}
		}, true
	case "vgname":
		return func(r *report.LVRow) []string { return []string{r.Pool.VG} }, true
	case "poollv", "pool":
		return func(r *report.LVRow) []string {
			if r.Volume != nil {
				return []string{r.Pool.Name}
			}
			return []string{""}
		}, true
	case "origin":
		return func(r *report.LVRow) []string { return []string{r.OriginName} }, true
	case "tags":
		return func(r *report.LVRow) []string {
			if r.Volume != nil {
				return r.Volume.Tags
			}
			return nil
		}, true
	case "segtype":
		return func(r *report.LVRow) []string {
			switch {
			case r.Volume != nil:
				return []string{"thin"}
			case r.Hidden != "":
				return []string{"linear"}
			}
			return []string{"thin-pool"}
		}, true
	case "uuid":
		return func(r *report.LVRow) []string {
			if r.Volume != nil {
				return []string{r.Volume.UUID}
			}
			if r.Hidden == "" {
				return []string{r.Pool.UUID}
			}
			return []string{""}
		}, true
	case "node":
		return func(r *report.LVRow) []string { return []string{r.Pool.Node} }, true
	}
	return nil, false
}

// maxSelect bounds an expression (and so the parser's recursion).
const maxSelect = 4096

// selParser is a recursive-descent parser over the expression text.
type selParser struct {
	s   string
	pos int
}

// parseSelect compiles a -S expression.
func parseSelect(s string) (selector, error) {
	p := &selParser{s: s}
	if len(s) > maxSelect {
		return nil, p.errf("longer than %d characters", maxSelect)
	}
	sel, err := p.or()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, p.errf("unexpected %q", p.s[p.pos:])
	}
	return sel, nil
}

func (p *selParser) errf(format string, a ...any) error {
	return usagef("-S %q: %s; thinraft supports FIELD=VALUE, !=, =~, !~ joined by && || ! ( ) on lv_name, vg_name, pool_lv, origin, lv_tags, segtype, lv_uuid, node", p.s, fmt.Sprintf(format, a...))
}

func (p *selParser) space() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// eat consumes the first of toks found at the position.
func (p *selParser) eat(toks ...string) bool {
	p.space()
	for _, t := range toks {
		if strings.HasPrefix(p.s[p.pos:], t) {
			p.pos += len(t)
			return true
		}
	}
	return false
}

func (p *selParser) or() (selector, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.eat("||", "#") {
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(r *report.LVRow) bool { return l(r) || right(r) }
	}
	return left, nil
}

func (p *selParser) and() (selector, error) {
	left, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.eat("&&", ",") {
		right, err := p.not()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(r *report.LVRow) bool { return l(r) && right(r) }
	}
	return left, nil
}

func (p *selParser) not() (selector, error) {
	if p.eat("!") {
		inner, err := p.not()
		if err != nil {
			return nil, err
		}
		return func(r *report.LVRow) bool { return !inner(r) }, nil
	}
	if p.eat("(") {
		inner, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.eat(")") {
			return nil, p.errf("missing )")
		}
		return inner, nil
	}
	return p.cmp()
}

func (p *selParser) cmp() (selector, error) {
	p.space()
	start := p.pos
	for p.pos < len(p.s) && (isWordByte(p.s[p.pos])) {
		p.pos++
	}
	name := p.s[start:p.pos]
	if name == "" {
		return nil, p.errf("want a field name at %q", p.s[start:])
	}
	get, ok := selectField(name)
	if !ok {
		return nil, p.errf("field %q cannot be selected on", name)
	}
	var op string
	switch {
	case p.eat("=~"):
		op = "=~"
	case p.eat("!~"):
		op = "!~"
	case p.eat("!="):
		op = "!="
	case p.eat("="):
		op = "="
	case p.eat("<", ">"):
		return nil, p.errf("numeric comparisons are not supported")
	default:
		return nil, p.errf("want =, !=, =~ or !~ after %s", name)
	}
	val, err := p.value()
	if err != nil {
		return nil, err
	}
	switch op {
	case "=":
		return func(r *report.LVRow) bool { return slices.Contains(get(r), val) }, nil
	case "!=":
		return func(r *report.LVRow) bool { return !slices.Contains(get(r), val) }, nil
	}
	re, err := regexp.Compile(val)
	if err != nil {
		return nil, p.errf("regular expression %q: %v", val, err)
	}
	match := func(r *report.LVRow) bool { return slices.ContainsFunc(get(r), re.MatchString) }
	if op == "!~" {
		return func(r *report.LVRow) bool { return !match(r) }, nil
	}
	return match, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == '/' || c == '[' || c == ']' || c == '+' || c == ':' ||
		c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// value reads a quoted string or a bare word (which may be empty).
func (p *selParser) value() (string, error) {
	p.space()
	if p.pos < len(p.s) && (p.s[p.pos] == '"' || p.s[p.pos] == '\'') {
		q := p.s[p.pos]
		end := strings.IndexByte(p.s[p.pos+1:], q)
		if end < 0 {
			return "", p.errf("unterminated quote")
		}
		v := p.s[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return v, nil
	}
	start := p.pos
	for p.pos < len(p.s) && !strings.ContainsRune(" \t&|,#()!", rune(p.s[p.pos])) {
		p.pos++
	}
	return p.s[start:p.pos], nil
}
