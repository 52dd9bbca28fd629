package metadata

import (
	"slices"
	"strings"
)

// Limits of names and values, after LVM's (lib/misc/lvm-string.c rules;
// NAME_LEN 128 with the terminating NUL).
const (
	MaxNameLen = 127
	MaxTagLen  = 1024
	MaxTags    = 64
	// MaxThinID is the largest thin device id dm-thin accepts (24 bits).
	MaxThinID = 1<<24 - 1
	// MaxSizeBytes bounds sizes so that byte and sector arithmetic cannot
	// overflow anywhere downstream.
	MaxSizeBytes = 1 << 62
	sectorSize   = 512
)

func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '+' || c == '_' || c == '.' || c == '-'
}

// ValidateVGName checks a VG name against LVM's rules.
func ValidateVGName(name string) *Error {
	switch {
	case name == "":
		return errf(CodeInvalid, "VG name is empty")
	case len(name) > MaxNameLen:
		return errf(CodeInvalid, "VG name %.20q... is longer than %d characters", name, MaxNameLen)
	case name == "." || name == "..":
		return errf(CodeInvalid, "VG name %q is not allowed", name)
	case name[0] == '-':
		return errf(CodeInvalid, "VG name %q starts with '-'", name)
	}
	for i := 0; i < len(name); i++ {
		if !nameChar(name[i]) {
			return errf(CodeInvalid, "VG name %q has character %q (allowed: a-z A-Z 0-9 + _ . -)", name, name[i])
		}
	}
	return nil
}

// ValidateLVName checks a volume, snapshot or pool name against LVM's
// rules, including its reserved names.
func ValidateLVName(name string) *Error {
	if err := ValidateVGName(name); err != nil {
		err.Message = "volume" + strings.TrimPrefix(err.Message, "VG")
		return err
	}
	// LVM keeps these for its own hidden volumes; refusing them keeps
	// thinraft's names valid for LVM tools and for dm names built from them.
	for _, p := range [...]string{"snapshot", "pvmove"} {
		if strings.HasPrefix(name, p) {
			return errf(CodeInvalid, "volume name %q: names starting with %q are reserved", name, p)
		}
	}
	for _, s := range [...]string{"_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_mimage", "_mlog",
		"_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_vdata", "_vorigin", "_wcorig"} {
		if strings.Contains(name, s) {
			return errf(CodeInvalid, "volume name %q: names containing %q are reserved", name, s)
		}
	}
	return nil
}

func tagChar(c byte) bool {
	return nameChar(c) || c == '/' || c == '=' || c == '!' || c == ':' || c == '&' || c == '#'
}

// normalizeTags validates tags (LVM's tag characters) and returns them
// sorted without duplicates, so equal sets have one representation.
func normalizeTags(tags []string) ([]string, *Error) {
	if len(tags) == 0 {
		return nil, nil
	}
	if len(tags) > MaxTags {
		return nil, errf(CodeInvalid, "%d tags: at most %d", len(tags), MaxTags)
	}
	for _, t := range tags {
		if t == "" || len(t) > MaxTagLen {
			return nil, errf(CodeInvalid, "tag %.20q: length must be 1..%d", t, MaxTagLen)
		}
		for i := 0; i < len(t); i++ {
			if !tagChar(t[i]) {
				return nil, errf(CodeInvalid, "tag %q has character %q", t, t[i])
			}
		}
	}
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// validateSize checks a volume or device size in bytes.
func validateSize(what string, n uint64) *Error {
	switch {
	case n == 0:
		return errf(CodeInvalid, "%s must be > 0", what)
	case n%sectorSize != 0:
		return errf(CodeInvalid, "%s %d is not a multiple of %d bytes", what, n, sectorSize)
	case n > MaxSizeBytes:
		return errf(CodeInvalid, "%s %d is larger than %d", what, n, uint64(MaxSizeBytes))
	}
	return nil
}

// validateUUID checks the textual form 8-4-4-4-12 of hex digits; any
// version is accepted (the leader chooses).
func validateUUID(what, s string) *Error {
	if len(s) != 36 {
		return errf(CodeInvalid, "%s uuid %q is not 36 characters", what, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return errf(CodeInvalid, "%s uuid %q is malformed", what, s)
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return errf(CodeInvalid, "%s uuid %q is malformed", what, s)
		}
	}
	return nil
}

// validateID checks a node id or address: printable, no spaces, bounded.
func validateID(what, s string) *Error {
	if s == "" || len(s) > 255 {
		return errf(CodeInvalid, "%s %.20q: length must be 1..255", what, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return errf(CodeInvalid, "%s %q has a space or non-printable character", what, s)
		}
	}
	return nil
}
