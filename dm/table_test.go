package dm

import (
	"strings"
	"testing"
)

func TestParseThinPoolParams(t *testing.T) {
	cases := []struct {
		in   string
		want ThinPoolParams
		out  string // String(); "" means in
	}{
		{"253:0 253:1 128 0 0", ThinPoolParams{MetadataDev: "253:0", DataDev: "253:1", DataBlockSectors: 128}, ""},
		{"/dev/loop0 /dev/loop1 2097152 32768", ThinPoolParams{MetadataDev: "/dev/loop0", DataDev: "/dev/loop1",
			DataBlockSectors: 2097152, LowWaterMark: 32768}, "/dev/loop0 /dev/loop1 2097152 32768 0"},
		{"m d 256 10 4 skip_block_zeroing ignore_discard read_only error_if_no_space",
			ThinPoolParams{MetadataDev: "m", DataDev: "d", DataBlockSectors: 256, LowWaterMark: 10,
				Features: PoolFeatures{SkipBlockZeroing: true, IgnoreDiscard: true, ReadOnly: true, ErrorIfNoSpace: true}}, ""},
		// Case-insensitive, in any order; String() uses the kernel's order.
		{"m d 128 0 2 ERROR_IF_NO_SPACE No_Discard_Passdown",
			ThinPoolParams{MetadataDev: "m", DataDev: "d", DataBlockSectors: 128,
				Features: PoolFeatures{NoDiscardPassdown: true, ErrorIfNoSpace: true}},
			"m d 128 0 2 no_discard_passdown error_if_no_space"},
		// kstrtoul/kstrtoull take a leading '+' and leading zeros.
		{"m d +0128 +5 0", ThinPoolParams{MetadataDev: "m", DataDev: "d", DataBlockSectors: 128, LowWaterMark: 5},
			"m d 128 5 0"},
		// The kernel reads the counted feature words and ignores the rest.
		{"m d 128 0 1 skip_block_zeroing trailing", ThinPoolParams{MetadataDev: "m", DataDev: "d", DataBlockSectors: 128,
			Features: PoolFeatures{SkipBlockZeroing: true}}, "m d 128 0 1 skip_block_zeroing"},
		{"m d 128 0 1 read_only read_only", ThinPoolParams{MetadataDev: "m", DataDev: "d", DataBlockSectors: 128,
			Features: PoolFeatures{ReadOnly: true}}, "m d 128 0 1 read_only"},
	}
	for _, c := range cases {
		got, err := ParseThinPoolParams(c.in)
		if err != nil {
			t.Errorf("ParseThinPoolParams(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseThinPoolParams(%q) = %+v, want %+v", c.in, got, c.want)
		}
		out := c.out
		if out == "" {
			out = c.in
		}
		if s := got.String(); s != out {
			t.Errorf("String() = %q, want %q", s, out)
		}
	}
}

func TestParseThinPoolParamsRefuses(t *testing.T) {
	cases := map[string]string{
		"m d 128":                      "Invalid argument count",
		"m m 128 0":                    "Error setting metadata or data device",
		"m d 64 0":                     "Invalid block size",
		"m d 192 0":                    "Invalid block size",
		"m d 4194304 0":                "Invalid block size",
		"m d 0 0":                      "Invalid block size",
		"m d -128 0":                   "Invalid block size",
		"m d 0x80 0":                   "Invalid block size",
		"m d 128 x":                    "Invalid low water mark",
		"m d 128 18446744073709551616": "Invalid low water mark",
		"m d 128 0 5 skip_block_zeroing ignore_discard no_discard_passdown read_only error_if_no_space": "Invalid number of pool feature arguments",
		"m d 128 0 +1 read_only": "Invalid number of pool feature arguments",
		"m d 128 0 -0":           "Invalid number of pool feature arguments",
		"m d 128 0 x":            "Invalid number of pool feature arguments",
		"m d 128 0 2 read_only":  "Not enough arguments",
		"m d 128 0 1 zero":       "Unrecognised pool feature requested: zero",
		// strcasecmp folds ASCII only: the Kelvin sign is not a 'k'.
		"m d 128 0 1 s\u212aip_block_zeroing": "Unrecognised pool feature requested",
	}
	for in, want := range cases {
		p, err := ParseThinPoolParams(in)
		if err == nil {
			t.Errorf("ParseThinPoolParams(%q) accepted: %+v", in, p)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ParseThinPoolParams(%q): %q, want %q", in, err, want)
		}
	}
}

func TestThinPoolParamsValidate(t *testing.T) {
	ok := ThinPoolParams{MetadataDev: "m", DataDev: "d", DataBlockSectors: 128}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	all := ok
	all.Features = PoolFeatures{true, true, true, true, true}
	if err := all.Validate(); err == nil || !strings.Contains(err.Error(), "feature") {
		t.Fatalf("five features: %v", err)
	}
	tg := ok.Target(1 << 20)
	if tg.Type != TargetThinPool || tg.Start != 0 || tg.Length != 1<<20 || tg.Params != "m d 128 0 0" {
		t.Fatalf("Target: %+v", tg)
	}
}

func TestParseThinParams(t *testing.T) {
	cases := []struct {
		in   string
		want ThinParams
		out  string
	}{
		{"253:2 0", ThinParams{PoolDev: "253:2"}, ""},
		{"/dev/mapper/pool 16777215 /dev/sdb", ThinParams{PoolDev: "/dev/mapper/pool", ID: MaxThinID, ExternalOrigin: "/dev/sdb"}, ""},
		{"p +7", ThinParams{PoolDev: "p", ID: 7}, "p 7"},
	}
	for _, c := range cases {
		got, err := ParseThinParams(c.in)
		if err != nil {
			t.Errorf("ParseThinParams(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseThinParams(%q) = %+v, want %+v", c.in, got, c.want)
		}
		out := c.out
		if out == "" {
			out = c.in
		}
		if s := got.String(); s != out {
			t.Errorf("String() = %q, want %q", s, out)
		}
	}
	for _, in := range []string{"p", "p 1 o x", "p 16777216", "p -1", "p x", "p 0x1"} {
		if p, err := ParseThinParams(in); err == nil {
			t.Errorf("ParseThinParams(%q) accepted: %+v", in, p)
		}
	}
}

func TestParseLinearParams(t *testing.T) {
	p, err := ParseLinearParams("/dev/loop0 2048")
	if err != nil || p != (LinearParams{Dev: "/dev/loop0", Offset: 2048}) || p.String() != "/dev/loop0 2048" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, in := range []string{"/dev/loop0", "/dev/loop0 -1", "/dev/loop0 x", "a 1 2"} {
		if p, err := ParseLinearParams(in); err == nil {
			t.Errorf("ParseLinearParams(%q) accepted: %+v", in, p)
		}
	}
}

func TestParseTable(t *testing.T) {
	text := "# pool and a linear tail\n0 2048 thin-pool m d 128 0 0\n\n2048 100 linear /dev/loop2 0\n"
	tb, err := ParseTable(text)
	if err != nil {
		t.Fatal(err)
	}
	want := Table{
		{Start: 0, Length: 2048, Type: TargetThinPool, Params: "m d 128 0 0"},
		{Start: 2048, Length: 100, Type: TargetLinear, Params: "/dev/loop2 0"},
	}
	if len(tb) != 2 || tb[0] != want[0] || tb[1] != want[1] {
		t.Fatalf("ParseTable = %+v", tb)
	}
	if tb.Size() != 2148 {
		t.Fatalf("Size = %d", tb.Size())
	}
	if s := tb.String(); s != "0 2048 thin-pool m d 128 0 0\n2048 100 linear /dev/loop2 0" {
		t.Fatalf("String = %q", s)
	}
	again, err := ParseTable(tb.String())
	if err != nil || len(again) != 2 || again[0] != want[0] || again[1] != want[1] {
		t.Fatalf("round trip: %+v %v", again, err)
	}
	refused := map[string]string{
		"":                        "empty",
		"# only a comment":        "empty",
		"0 10":                    "want <start>",
		"x 10 linear a 0":         "bad start",
		"0 0 linear a 0":          "bad length",
		"0 -1 linear a 0":         "bad length",
		"1 10 linear a 0":         "gap",
		"0 10 linear a 0\n5 10 z": "overlap",
	}
	for in, want := range refused {
		if tb, err := ParseTable(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTable(%q) = %+v, %v; want error with %q", in, tb, err, want)
		}
	}
}

func TestTargetBuilders(t *testing.T) {
	th := ThinParams{PoolDev: "p", ID: 3}.Target(2048)
	if th.String() != "0 2048 thin p 3" {
		t.Fatalf("thin target %q", th.String())
	}
	li := LinearParams{Dev: "d", Offset: 8}.Target(16)
	if li.String() != "0 16 linear d 8" {
		t.Fatalf("linear target %q", li.String())
	}
}
