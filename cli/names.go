package cli

import (
	"strings"
)

// lvRef names an LV as LVM's commands take it: "vg/lv", "/dev/vg/lv", or a
// bare "lv" whose VG comes from elsewhere on the command line.
type lvRef struct{ VG, LV string }

func (r lvRef) String() string { return r.VG + "/" + r.LV }

// parseRef splits "vg/lv", "/dev/vg/lv" and "/dev/mapper/vg-lv" (LVM's
// dash escaping: "--" is a literal dash). A word without '/' is returned
// as LV with VG "": the caller decides whether it is a VG or an LV.
func parseRef(s string) lvRef {
	if rest, ok := strings.CutPrefix(s, "/dev/mapper/"); ok {
		return splitMapper(rest)
	}
	s = strings.TrimPrefix(s, "/dev/")
	vg, lv, ok := strings.Cut(s, "/")
	if !ok {
		return lvRef{LV: s}
	}
	return lvRef{VG: vg, LV: lv}
}

// splitMapper undoes dm's vg-lv naming: single dashes separate, double
// dashes are a dash.
func splitMapper(s string) lvRef {
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '-' {
			i++
			continue
		}
		un := func(x string) string { return strings.ReplaceAll(x, "--", "-") }
		return lvRef{VG: un(s[:i]), LV: un(s[i+1:])}
	}
	return lvRef{LV: s}
}

// needLV resolves an LV argument, with vg as the VG of a bare name (""
// when none was given).
func needLV(arg, vg, what string) (lvRef, error) {
	r := parseRef(arg)
	if r.VG == "" {
		r.VG = vg
	}
	if r.VG == "" || r.LV == "" {
		return r, usagef("%s %q: name it as VG/LV", what, arg)
	}
	if vg != "" && r.VG != vg {
		return r, usagef("%s %s is not in VG %s named on the same command line", what, r, vg)
	}
	return r, nil
}

// yesNo parses LVM's y|n values (also "yes"/"no").
func yesNo(flag, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "y", "yes":
		return true, nil
	case "n", "no":
		return false, nil
	}
	return false, usagef("--%s %q: want y or n", flag, v)
}

// activation parses -a|--activate: y, n, and LVM's ay/ey/ly/sy, an/en/ln/sn
// (exclusive, local and shared activation are one thing here: a thin
// volume is active on its pool's node).
func activation(v string) (bool, error) {
	s := strings.ToLower(v)
	if len(s) == 2 && strings.ContainsRune("aels", rune(s[0])) {
		s = s[1:]
	}
	switch s {
	case "y", "yes":
		return true, nil
	case "n", "no":
		return false, nil
	}
	return false, usagef("--activate %q: want y or n (ay/ey/ly/sy, an/en/ln/sn accepted)", v)
}
