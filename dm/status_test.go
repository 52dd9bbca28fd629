package dm

import (
	"strings"
	"testing"
)

// Pool status lines in the kernel's pool_status format (dm-thin.c, 6.1):
// "%llu %llu/%llu %llu/%llu " then the held root or "-", the mode, the
// discard mode, the no-space mode, needs_check or "-", and the metadata
// low-water threshold, each followed by a blank.
func TestParsePoolStatus(t *testing.T) {
	cases := []struct {
		line string
		want PoolStatus
	}{
		{"0 1648/16384 0/1024 - rw discard_passdown queue_if_no_space - 1024 ",
			PoolStatus{UsedMetaBlocks: 1648, TotalMetaBlocks: 16384, TotalDataBlocks: 1024,
				Mode: ModeRW, Discard: DiscardPassdown, MetaLowWater: 1024}},
		{"7 20/2048 512/1024 71 ro no_discard_passdown error_if_no_space needs_check 512 ",
			PoolStatus{TransactionID: 7, UsedMetaBlocks: 20, TotalMetaBlocks: 2048, UsedDataBlocks: 512,
				TotalDataBlocks: 1024, HeldRoot: 71, HasHeldRoot: true, Mode: ModeRO, Discard: DiscardNoPassdown,
				ErrorIfNoSpace: true, NeedsCheck: true, MetaLowWater: 512}},
		{"18446744073709551615 1024/1024 1024/1024 - out_of_data_space ignore_discard queue_if_no_space - 256 ",
			PoolStatus{TransactionID: 1<<64 - 1, UsedMetaBlocks: 1024, TotalMetaBlocks: 1024, UsedDataBlocks: 1024,
				TotalDataBlocks: 1024, Mode: ModeOutOfDataSpace, Discard: DiscardIgnore, MetaLowWater: 256}},
		{"Fail", PoolStatus{Mode: ModeFail}},
		{"Error", PoolStatus{Mode: ModeError}},
		// What dmsetup prints has no trailing blank; Control.Status may
		// pass either.
		{"3 1/4 0/8 - rw discard_passdown queue_if_no_space - 1",
			PoolStatus{TransactionID: 3, UsedMetaBlocks: 1, TotalMetaBlocks: 4, TotalDataBlocks: 8,
				Mode: ModeRW, Discard: DiscardPassdown, MetaLowWater: 1}},
	}
	for _, c := range cases {
		got, err := ParsePoolStatus(c.line)
		if err != nil {
			t.Errorf("ParsePoolStatus(%q): %v", c.line, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParsePoolStatus(%q) = %+v, want %+v", c.line, got, c.want)
		}
		// The formatter is byte-exact with the kernel (trailing blank).
		want := c.line
		if c.want.Mode != ModeFail && c.want.Mode != ModeError && !strings.HasSuffix(want, " ") {
			want += " "
		}
		if s := got.String(); s != want {
			t.Errorf("String() = %q, want %q", s, want)
		}
	}
}

func TestParsePoolStatusRefuses(t *testing.T) {
	good := strings.Fields("0 1648/16384 0/1024 - rw discard_passdown queue_if_no_space - 1024")
	with := func(i int, v string) string {
		f := append([]string(nil), good...)
		f[i] = v
		return strings.Join(f, " ")
	}
	cases := map[string]string{
		"empty":                 "",
		"fail lower case":       "fail",
		"fail with more":        "Fail 0",
		"too few":               strings.Join(good[:8], " "),
		"too many":              strings.Join(good, " ") + " 1",
		"txn negative":          with(0, "-1"),
		"txn plus":              with(0, "+1"),
		"txn hex":               with(0, "0x1"),
		"txn leading zero":      with(0, "01"),
		"txn overflow":          with(0, "18446744073709551616"),
		"meta no slash":         with(1, "1648"),
		"meta two slashes":      with(1, "1/2/3"),
		"meta used over total":  with(1, "5/4"),
		"meta empty used":       with(1, "/4"),
		"data used over total":  with(2, "1025/1024"),
		"held root zero":        with(3, "0"),
		"held root word":        with(3, "none"),
		"mode":                  with(4, "RW"),
		"mode fail":             with(4, "Fail"),
		"discard":               with(5, "discard"),
		"no space":              with(6, "error"),
		"needs check":           with(7, "needs-check"),
		"low water":             with(8, "x"),
		"low water empty slash": with(8, "1/"),
	}
	for name, line := range cases {
		if s, err := ParsePoolStatus(line); err == nil {
			t.Errorf("%s: ParsePoolStatus(%q) accepted: %+v", name, line, s)
		}
	}
}

func TestPoolStatusFree(t *testing.T) {
	s, err := ParsePoolStatus("0 10/100 30/1000 - rw discard_passdown queue_if_no_space - 25 ")
	if err != nil {
		t.Fatal(err)
	}
	if s.FreeMetaBlocks() != 90 || s.FreeDataBlocks() != 970 {
		t.Fatalf("free meta %d data %d", s.FreeMetaBlocks(), s.FreeDataBlocks())
	}
}

// Thin status lines in the kernel's thin_status format: mapped sectors,
// then the last sector of the highest mapped block or "-".
func TestParseThinStatus(t *testing.T) {
	cases := []struct {
		line string
		want ThinStatus
	}{
		// Two 1 MiB writes 100 MiB apart, 64 KiB blocks (vm-bench.md).
		{"4096 206847", ThinStatus{MappedSectors: 4096, HighestMapped: 206847, HasMapped: true}},
		{"0 -", ThinStatus{}},
		{"128 127", ThinStatus{MappedSectors: 128, HighestMapped: 127, HasMapped: true}},
		{"-", ThinStatus{Inactive: true}},
		{"Fail", ThinStatus{Fail: true}},
		{"Error", ThinStatus{Error: true}},
		// (highest+1)*sectors_per_block-1 in u64 can be the last sector.
		{"128 18446744073709551615", ThinStatus{MappedSectors: 128, HighestMapped: 1<<64 - 1, HasMapped: true}},
	}
	for _, c := range cases {
		got, err := ParseThinStatus(c.line)
		if err != nil {
			t.Errorf("ParseThinStatus(%q): %v", c.line, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseThinStatus(%q) = %+v, want %+v", c.line, got, c.want)
		}
		if s := got.String(); s != c.line {
			t.Errorf("String() = %q, want %q", s, c.line)
		}
	}
}

func TestParseThinStatusRefuses(t *testing.T) {
	for _, line := range []string{
		"", "0", "0 - -", "- -", "fail", "128 -", "0 127", "256 127", "x 127", "128 x",
		"+128 255", "128 0x7f", "0128 255", "128 -1", "18446744073709551616 -",
	} {
		if s, err := ParseThinStatus(line); err == nil {
			t.Errorf("ParseThinStatus(%q) accepted: %+v", line, s)
		}
	}
}
