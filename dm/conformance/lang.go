package conformance

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Case is one named block of a script: the commands run in order against a
// fresh Env, followed by the teardown and metadata check.
type Case struct {
	// Name is "<file base>/<case name>", the subtest name.
	Name string
	File string
	Line int
	Cmds []Cmd
}

// Cmd is one line of a case: a verb, its arguments and the expected
// outcome after "=>" (empty means success).
type Cmd struct {
	File string
	Line int
	Verb string
	Args []string
	// Expect is the text after "=>": "" or "ok" for success, an errno name
	// (EEXIST), a dm sentinel name (ErrUnaligned) or ETIMEDOUT for waits.
	Expect string
	// Raw is the line as written, for failure messages.
	Raw string
}

// Pos returns "file:line" for messages.
func (c Cmd) Pos() string { return fmt.Sprintf("%s:%d", c.File, c.Line) }

func (c Cmd) String() string { return c.Raw }

var caseNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// ParseFile parses one script file.
func ParseFile(path string) ([]*Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("conformance script: %w", err)
	}
	defer f.Close()
	return Parse(filepath.Base(path), f)
}

// Parse parses a script. file names the script in errors and prefixes the
// case names (without its extension).
func Parse(file string, r io.Reader) ([]*Case, error) {
	prefix := strings.TrimSuffix(file, filepath.Ext(file))
	var cases []*Case
	var cur *Case
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		raw := strings.TrimSpace(sc.Text())
		if raw == "" || strings.HasPrefix(raw, "#") {
			continue
		}
		if f := strings.Fields(raw); f[0] == "case" {
			if len(f) != 2 || !caseNameRE.MatchString(f[1]) {
				return nil, fmt.Errorf("%s:%d: want `case NAME` with NAME of [a-z0-9_.-], got %q", file, line, raw)
			}
			if prev, dup := seen[f[1]]; dup {
				return nil, fmt.Errorf("%s:%d: case %q already defined at line %d", file, line, f[1], prev)
			}
			seen[f[1]] = line
			cur = &Case{Name: prefix + "/" + f[1], File: file, Line: line}
			cases = append(cases, cur)
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: command before the first `case` line: %q", file, line, raw)
		}
		cmd, err := parseCmd(file, line, raw)
		if err != nil {
			return nil, err
		}
		cur.Cmds = append(cur.Cmds, cmd)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, line, err)
	}
	for _, c := range cases {
		if len(c.Cmds) == 0 {
			return nil, fmt.Errorf("%s:%d: case %q has no commands", file, c.Line, c.Name)
		}
	}
	return cases, nil
}

func parseCmd(file string, line int, raw string) (Cmd, error) {
	c := Cmd{File: file, Line: line, Raw: raw}
	body := raw
	if i := strings.Index(raw, "=>"); i >= 0 {
		body = raw[:i]
		exp := strings.Fields(raw[i+2:])
		if len(exp) != 1 {
			return Cmd{}, fmt.Errorf("%s:%d: want exactly one outcome after =>, got %q", file, line, raw[i+2:])
		}
		c.Expect = exp[0]
		if err := validExpect(c.Expect); err != nil {
			return Cmd{}, fmt.Errorf("%s:%d: %w", file, line, err)
		}
	}
	f := strings.Fields(body)
	if len(f) == 0 {
		return Cmd{}, fmt.Errorf("%s:%d: no command before =>", file, line)
	}
	c.Verb, c.Args = f[0], f[1:]
	spec, ok := commands[c.Verb]
	if !ok {
		return Cmd{}, fmt.Errorf("%s:%d: unknown command %q (known: %s)", file, line, c.Verb, knownVerbs())
	}
	if len(c.Args) < spec.min || (spec.max >= 0 && len(c.Args) > spec.max) {
		return Cmd{}, fmt.Errorf("%s:%d: %s: usage: %s", file, line, c.Verb, spec.usage)
	}
	if spec.check != nil {
		if err := spec.check(c); err != nil {
			return Cmd{}, fmt.Errorf("%s:%d: %s: %w (usage: %s)", file, line, c.Verb, err, spec.usage)
		}
	}
	if c.Expect != "" && c.Expect != "ok" && !spec.canFail {
		return Cmd{}, fmt.Errorf("%s:%d: %s cannot take an error outcome", file, line, c.Verb)
	}
	return c, nil
}

func knownVerbs() string {
	var v []string
	for k := range commands {
		v = append(v, k)
	}
	sort.Strings(v)
	return strings.Join(v, " ")
}

// cmdSpec describes a verb for the parser: argument count bounds (max -1:
// unbounded), whether "=> ERR" is allowed, and an optional static check of
// the arguments so that typos fail at parse time with file:line.
type cmdSpec struct {
	min, max int
	canFail  bool
	usage    string
	check    func(Cmd) error
	run      func(*runner, Cmd) error
	// expectHandled: the handler evaluates c.Expect itself (loops, jobs).
	expectHandled bool
}

// LoadDir parses every *.txt script in dir, in name order.
func LoadDir(dir string) ([]*Case, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, fmt.Errorf("conformance scripts in %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no conformance scripts (*.txt) in %s", dir)
	}
	sort.Strings(paths)
	var all []*Case
	names := map[string]string{}
	for _, p := range paths {
		cs, err := ParseFile(p)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if other, dup := names[c.Name]; dup {
				return nil, fmt.Errorf("%s:%d: case %q also in %s", c.File, c.Line, c.Name, other)
			}
			names[c.Name] = c.File
		}
		all = append(all, cs...)
	}
	return all, nil
}

// ParseSize parses a size. A bare number is in 512-byte sectors (dm's own
// unit, as dmsetup prints it); a number with a suffix is bytes: b (bytes),
// k/K (KiB), m/M (MiB), g/G (GiB), or s (sectors, explicit). The result is
// in bytes.
func ParseSize(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := int64(512)
	num := s
	switch s[len(s)-1] {
	case 'b':
		mult, num = 1, s[:len(s)-1]
	case 's':
		mult, num = 512, s[:len(s)-1]
	case 'k', 'K':
		mult, num = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		mult, num = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		mult, num = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q (a bare number is sectors; suffixes b s k M G)", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return n * mult, nil
}

// ParseSectors parses a size and returns it in sectors; it must be a whole
// number of sectors.
func ParseSectors(s string) (uint64, error) {
	b, err := ParseSize(s)
	if err != nil {
		return 0, err
	}
	if b%512 != 0 {
		return 0, fmt.Errorf("size %q is not a whole number of sectors", s)
	}
	return uint64(b / 512), nil
}

// kv splits "key=value" style arguments; relation operators are handled by
// parseAssertion.
func splitKV(arg string) (key, val string, ok bool) {
	return strings.Cut(arg, "=")
}

// assertion is "key OP value" with OP one of = != < <= > >=.
type assertion struct {
	key, op, val string
}

var assertRE = regexp.MustCompile(`^([a-z_]+)(=|!=|<=|>=|<|>)(.+)$`)

func parseAssertion(arg string) (assertion, error) {
	m := assertRE.FindStringSubmatch(arg)
	if m == nil {
		return assertion{}, fmt.Errorf("bad assertion %q: want key=value (or != < <= > >=)", arg)
	}
	return assertion{key: m[1], op: m[2], val: m[3]}, nil
}

func checkAssertions(keys map[string]bool, args []string) error {
	for _, a := range args {
		as, err := parseAssertion(a)
		if err != nil {
			return err
		}
		if !keys[as.key] {
			var k []string
			for n := range keys {
				k = append(k, n)
			}
			sort.Strings(k)
			return fmt.Errorf("unknown key %q (known: %s)", as.key, strings.Join(k, " "))
		}
	}
	return nil
}
