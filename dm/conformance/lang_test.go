package conformance

import (
	"strings"
	"testing"
)

func TestParseErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, script, want string
	}{
		{"command before case", "pool p\n", "x.txt:1: command before the first `case`"},
		{"unknown verb", "case a\n\nfrobnicate p\n", "x.txt:3: unknown command \"frobnicate\""},
		{"bad case name", "case Bad Name\n", "x.txt:1: want `case NAME`"},
		{"duplicate case", "case a\npool p\ncase a\npool p\n", "x.txt:3: case \"a\" already defined at line 1"},
		{"empty case", "case a\ncase b\npool p\n", "x.txt:1: case \"x/a\" has no commands"},
		{"bad outcome", "case a\nmsg p create_thin 0 => EWHATEVER\n", "x.txt:2: unknown outcome \"EWHATEVER\""},
		{"two outcomes", "case a\nmsg p x => EINVAL EEXIST\n", "x.txt:2: want exactly one outcome"},
		{"outcome on assertion-only verb", "case a\nlist has=p => EINVAL\n", "x.txt:2: list cannot take an error outcome"},
		{"too few args", "case a\nthin t0 p 0\n", "x.txt:2: thin: usage"},
		{"bad size", "case a\nbacking m 4Q\n", "x.txt:2: backing: bad size"},
		{"bad status key", "case a\nstatus p txnid=1\n", "x.txt:2: status: unknown key \"txnid\""},
		{"bad assertion", "case a\nstatus p txn\n", "x.txt:2: status: bad assertion"},
		{"bad data", "case a\nwrite t0 0 4k A\n", "x.txt:2: write: want pattern=NAME or zero"},
		{"bad loop", "case a\nrepeat i=3..1 msg p create_thin {i}\n", "x.txt:2: repeat: bad range"},
		{"until without outcome", "case a\nuntil i=0..9 msg p create_thin {i}\n", "x.txt:2: until: until needs the error"},
		{"bg of a non-IO verb", "case a\nbg j msg p create_thin 0\n", "x.txt:2: bg: bg runs only"},
		{"bad pool option", "case a\npool p size=4M\n", "x.txt:2: pool: unknown pool option"},
		{"bad duration", "case a\nsleep forever\n", "x.txt:2: sleep: bad duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.txt", strings.NewReader(tc.script))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseCase(t *testing.T) {
	cs, err := Parse("m.txt", strings.NewReader("# c\ncase one\n  pool p chunk=128k\n\nmsg p create_thin 0 => EEXIST\ncase two\nsleep 1ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Name != "m/one" || cs[1].Name != "m/two" || len(cs[0].Cmds) != 2 {
		t.Fatalf("parsed %+v", cs)
	}
	c := cs[0].Cmds[1]
	if c.Verb != "msg" || strings.Join(c.Args, " ") != "p create_thin 0" || c.Expect != "EEXIST" || c.Pos() != "m.txt:5" {
		t.Fatalf("command %+v", c)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1": 512, "8": 4096, "1s": 512, "100b": 100, "4k": 4096, "4K": 4096,
		"1M": 1 << 20, "2m": 2 << 20, "1G": 1 << 30, "1056k": 1056 << 10,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "k", "-1", "1x", "1.5M", "99999999999999999999G"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	if _, err := ParseSectors("100b"); err == nil {
		t.Errorf("ParseSectors accepted a size that is not whole sectors")
	}
}

func TestPatternPeriodAndOffsets(t *testing.T) {
	a := patternBytes("A", 0, 128<<10)
	if string(a[:64<<10]) != string(a[64<<10:]) {
		t.Fatal("pattern does not repeat every 64 KiB")
	}
	if string(patternBytes("A", 4096, 512)) != string(a[4096:4608]) {
		t.Fatal("pattern at an offset differs from the same bytes of a longer read")
	}
	if string(patternBytes("A", 0, 512)) == string(patternBytes("B", 0, 512)) {
		t.Fatal("two pattern names give the same bytes")
	}
	if string(a[:512]) == string(a[512:1024]) {
		t.Fatal("sectors of one pattern are identical: misplaced sectors would go unseen")
	}
}

func TestAllScriptsParse(t *testing.T) {
	cases, err := LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 110 {
		t.Fatalf("%d cases, the suite promises at least 110", len(cases))
	}
}
