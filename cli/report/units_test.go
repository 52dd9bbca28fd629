package report

import (
	"errors"
	"testing"
)

func TestFormatSize(t *testing.T) {
	cases := []struct {
		units    string
		bytes    uint64
		noSuffix bool
		want     string
	}{
		// lvmreport(7): "lvs" prints 4.00m; "--units b --nosuffix" 4194304.
		{"", 4 * mib, false, "4.00m"},
		{"b", 4 * mib, true, "4194304"},
		{"b", 4 * mib, false, "4194304B"},
		{"B", 4 * mib, false, "4194304B"},
		// lvmreport(7) vgs example: 200.00m.
		{"r", 200 * mib, false, "200.00m"},
		// libdevmapper's own example: 2043M is more than 1.9949G, prints <2.00G.
		{"r", 2043 * mib, false, "<2.00g"},
		{"h", 2043 * mib, false, "2.00g"},
		// Printing rounded down needs no '<' (1.994g shows 1.99g).
		{"r", 2041 * mib, false, "1.99g"},
		// lvmthin(7): 1T thin volumes show 1.00t, 10G pools 10.00g.
		{"", 1 << 40, false, "1.00t"},
		{"", 10 * gib, false, "10.00g"},
		{"R", 2_000_000_000, false, "2.00G"},
		{"R", 1_999_999_999, false, "<2.00G"},
		{"H", 1 << 30, false, "1.07G"},
		// Zero: "0" and a blank unit when human, else the unit.
		{"", 0, false, "0 "},
		{"h", 0, true, "0"},
		{"m", 0, false, "0m"},
		{"b", 0, false, "0B"},
		// Below the smallest prefix, human units print bytes.
		{"h", 512, false, "512b"},
		{"H", 512, false, "512B"},
		{"r", 512, false, "512b"},
		{"s", mib, false, "2048S"},
		{"S", mib, true, "2048"},
		{"k", mib, false, "1024.00k"},
		{"K", mib, false, "1048.58K"},
		{"m", 1536 * 1024, true, "1.50"},
		{"g", 512 * mib, false, "0.50g"},
		{"t", 1 << 40, false, "1.00t"},
		{"p", 1 << 50, false, "1.00p"},
		{"e", 1 << 60, false, "1.00e"},
		{"3M", 6_000_000, false, "2.00M"},
		{"2m", 3 * mib, false, "1.50m"},
		// --nosuffix does not apply to human units (lvs(8)).
		{"h", 4 * mib, true, "4.00m"},
	}
	for _, c := range cases {
		u, err := parseUnits(c.units)
		if err != nil {
			t.Fatalf("parseUnits(%q): %v", c.units, err)
		}
		if got := u.format(c.bytes, c.noSuffix); got != c.want {
			t.Errorf("--units %q, %d bytes, nosuffix %v: got %q, want %q", c.units, c.bytes, c.noSuffix, got, c.want)
		}
	}
}

func TestParseUnitsBad(t *testing.T) {
	for _, s := range []string{"x", "0m", "-1m", "3h", "mm", "1.5m", "99999999999999999999m", "u"} {
		_, err := parseUnits(s)
		var oe *OptionError
		if !errors.As(err, &oe) {
			t.Errorf("parseUnits(%q): got %v, want an OptionError", s, err)
		}
	}
}

func TestPercent(t *testing.T) {
	cases := []struct {
		used, total uint64
		want        string
	}{
		{0, 0, ""},
		{0, 100, "0.00"},
		{1, 1_000_000_000, "0.01"},    // never 0.00 for some use
		{999_999, 1_000_000, "99.99"}, // never 100.00 for less than all
		{1, 1, "100.00"},
		{2, 1, "100.00"},
		{44170, 163840, "26.96"}, // lvmthin(7)'s 26.96%
		{508, 4096, "12.40"},     // and its 12.40% metadata
		{1, 3, "33.33"},
		{2, 3, "66.67"},
	}
	for _, c := range cases {
		if got, _ := percent(c.used, c.total); got != c.want {
			t.Errorf("percent(%d, %d) = %q, want %q", c.used, c.total, got, c.want)
		}
	}
}
