package cli

import (
	"strings"

	ucli "github.com/urfave/cli/v3"
)

// LVM's parser (getopt_long) accepts a short option's value glued to it:
// -L10G, -n lv1 as -nlv1, -an, -ky, -prw, -o+seg_monitor. urfave/cli does
// not, so the command line is rewritten before it parses: a glued value is
// split off ("-L10G" -> "-L", "10G"), a cluster of boolean short options
// is split into single ones ("-fy" -> "-f", "-y"), and everything else is
// left as typed ("--size=10G", "--", positionals, unknown options, which
// urfave then reports). A value that starts with '-' (-L-10G) is glued
// back with '=' so it cannot be read as an option.

// shortSpec tells, for one command, which single-letter options exist and
// whether each takes a value.
type shortSpec map[byte]bool

// normalize rewrites args (the words after the command's name) for spec.
func normalize(args []string, spec shortSpec) []string {
	out := make([]string, 0, len(args)+2)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) < 2 || a[0] != '-' || a[1] == '-' {
			out = append(out, a)
			continue
		}
		takes, known := spec[a[1]]
		switch {
		case !known:
			out = append(out, a)
		case takes && len(a) == 2:
			out = append(out, a)
			i = nextValue(args, i, &out)
		case takes:
			v := a[2:]
			if v[0] == '=' {
				// -L=10G: already urfave's own form.
				out = append(out, a)
				continue
			}
			if v[0] == '-' {
				out = append(out, a[:2]+"="+v)
				continue
			}
			out = append(out, a[:2], v)
		case len(a) == 2:
			out = append(out, a)
		default:
			words, needNext := splitBools(a, spec)
			out = append(out, words...)
			if needNext {
				i = nextValue(args, i, &out)
			}
		}
	}
	return out
}

// nextValue takes args[i+1] as the value of the option just appended to
// out ("-L" "value"); a value starting with '-' is glued with '=' so it
// stays a value. It returns the index of the last word used.
func nextValue(args []string, i int, out *[]string) int {
	if i+1 >= len(args) {
		return i
	}
	v := args[i+1]
	if strings.HasPrefix(v, "-") && len(v) > 1 {
		(*out)[len(*out)-1] += "=" + v
	} else {
		*out = append(*out, v)
	}
	return i + 1
}

// splitBools splits "-fy" into "-f", "-y" when every letter is a known
// boolean option; otherwise the word stays whole (urfave reports it).
// A value-taking letter inside the cluster takes the rest as its value,
// as getopt does: "-fL10G" is "-f", "-L", "10G"; needNext says the
// cluster ends in a value-taking letter whose value is the next word.
func splitBools(a string, spec shortSpec) (words []string, needNext bool) {
	var out []string
	for j := 1; j < len(a); j++ {
		takes, known := spec[a[j]]
		if !known {
			return []string{a}, false
		}
		out = append(out, "-"+a[j:j+1])
		if !takes {
			continue
		}
		if j+1 == len(a) {
			return out, true
		}
		v := a[j+1:]
		switch v[0] {
		case '-':
			out[len(out)-1] += "=" + v
		case '=':
			out[len(out)-1] += v
		default:
			out = append(out, v)
		}
		return out, false
	}
	return out, false
}

// specOf collects the single-letter options of cmd and its ancestors
// (urfave applies an ancestor's non-local flags to its subcommands).
func specOf(lineage []*ucli.Command) shortSpec {
	spec := shortSpec{}
	for _, c := range lineage {
		for _, f := range c.Flags {
			_, isBool := f.(*ucli.BoolFlag)
			for _, n := range f.Names() {
				if len(n) == 1 {
					if _, seen := spec[n[0]]; !seen {
						spec[n[0]] = !isBool
					}
				}
			}
		}
	}
	return spec
}

// NormalizeArgs rewrites a full argv (program name first) for root: it
// finds the command the leading words name (root options before it are
// kept) and normalises the rest by that command's options. Commands that
// take their arguments raw (SkipFlagParsing: agent, cluster init) are left
// alone.
func NormalizeArgs(root *ucli.Command, argv []string) []string {
	if len(argv) == 0 {
		return argv
	}
	lineage := []*ucli.Command{root}
	cur := root
	i := 1
	for i < len(argv) {
		a := argv[i]
		if strings.HasPrefix(a, "-") {
			// A root option before the command word, with its value.
			if !strings.Contains(a, "=") && takesValue(cur, strings.TrimLeft(a, "-")) {
				i++
			}
			i++
			continue
		}
		sub := cur.Command(a)
		if sub == nil {
			break
		}
		cur = sub
		lineage = append(lineage, sub)
		i++
		if sub.SkipFlagParsing {
			return argv
		}
		if len(sub.Commands) == 0 {
			break
		}
	}
	if i > len(argv) {
		i = len(argv)
	}
	out := append([]string{}, argv[:i]...)
	return append(out, normalize(argv[i:], specOf(lineage))...)
}

func takesValue(c *ucli.Command, name string) bool {
	for _, f := range c.Flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*ucli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
