package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cli"
)

// example is one line of testdata/lvmthin-examples.txt with the checks
// that follow it.
type example struct {
	section, kind, cmd, reason string
	line                       int
	checks                     []check
}

type check struct {
	kind, target string
	fields       map[string]string
	text         string
}

func loadExamples(t *testing.T) []example {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "lvmthin-examples.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []example
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("line %d: %q: want KIND: TEXT", n, line)
		}
		switch kind {
		case "section":
			section = rest
		case "run", "setup", "refuse", "skip":
			cmd, reason, _ := strings.Cut(rest, " | ")
			if (kind == "refuse" || kind == "skip") && reason == "" {
				t.Fatalf("line %d: %s needs a reason after ' | '", n, kind)
			}
			out = append(out, example{section: section, kind: kind, cmd: strings.TrimSpace(cmd), reason: reason, line: n})
		case "expect", "gone", "output":
			if len(out) == 0 {
				t.Fatalf("line %d: %s before any command", n, kind)
			}
			c := check{kind: kind, text: rest}
			if kind != "output" {
				words := strings.Fields(rest)
				c.target, c.fields = words[0], map[string]string{}
				for _, w := range words[1:] {
					k, v, _ := strings.Cut(w, "=")
					c.fields[k] = v
				}
			}
			out[len(out)-1].checks = append(out[len(out)-1].checks, c)
		default:
			t.Fatalf("line %d: unknown kind %q", n, kind)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLVMThinExamples runs lvmthin(7)'s command lines against a 3-node
// cluster of agent processes on the userspace engine, each as
// `thinraft <the man page's line>`, and checks every result through lvs:
// the LVs' attributes, sizes, pools and origins as LVM's report shows
// them (--reportformat json, LVM's shape and field names). Lines that do
// not apply must be refused with exit 3 and one line naming the fix.
func TestLVMThinExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three agent processes")
	}
	examples := loadExamples(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	c := newProcCluster(t, 3)
	c.leader(ctx, c.client("n1", "n2", "n3"), 3)

	thinraft := func(args ...string) (int, string, string) { return c.run(ctx, args...) }
	// lvsRow reads one LV through `lvs --reportformat json` (nil: absent).
	lvsRow := func(t *testing.T, target string) map[string]string {
		t.Helper()
		code, out, errOut := thinraft("lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
			"-o", "lv_name,vg_name,lv_attr,lv_size,pool_lv,origin,lv_metadata_size,data_percent,metadata_percent", target)
		if code == cli.ExitFailed && (strings.Contains(errOut, "Failed to find logical volume") || strings.Contains(errOut, "Volume group \"")) {
			return nil
		}
		if code != 0 {
			t.Fatalf("lvs %s: exit %d: %s", target, code, errOut)
		}
		var rep struct {
			Report []struct {
				LV []map[string]string `json:"lv"`
			} `json:"report"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("lvs --reportformat json is not LVM's shape: %v\n%s", err, out)
		}
		if len(rep.Report) != 1 || len(rep.Report[0].LV) != 1 {
			t.Fatalf("lvs %s: want one LV in {\"report\":[{\"lv\":[...]}]}, got %s", target, out)
		}
		return rep.Report[0].LV[0]
	}

	ran, refused, skipped := 0, 0, 0
	for i, ex := range examples {
		name := fmt.Sprintf("%03d_%s_%s", i, ex.kind, ex.cmd)
		t.Run(name, func(t *testing.T) {
			if ex.kind == "skip" {
				skipped++
				t.Skipf("%s: %s", ex.section, ex.reason)
			}
			code, out, errOut := thinraft(strings.Fields(ex.cmd)...)
			switch ex.kind {
			case "refuse":
				refused++
				if code != cli.ExitInvalid {
					t.Fatalf("exit %d, want %d (refused: %s)\nstdout %s\nstderr %s", code, cli.ExitInvalid, ex.reason, out, errOut)
				}
				if strings.Count(strings.TrimSpace(errOut), "\n") != 0 || strings.TrimSpace(errOut) == "" {
					t.Errorf("want a one-line error, got %q", errOut)
				}
				return
			default:
				ran++
				if code != 0 {
					t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
				}
			}
			for _, ck := range ex.checks {
				switch ck.kind {
				case "output":
					if !strings.Contains(out, ck.text) {
						t.Errorf("stdout does not contain %q:\n%s", ck.text, out)
					}
				case "gone":
					if row := lvsRow(t, ck.target); row != nil {
						t.Errorf("%s still exists: %v", ck.target, row)
					}
				case "expect":
					row := lvsRow(t, ck.target)
					if row == nil {
						t.Fatalf("%s does not exist", ck.target)
					}
					for k, want := range ck.fields {
						got, ok := row[k]
						if !ok {
							t.Errorf("%s: field %s missing from lvs json (LVM's field names): %v", ck.target, k, row)
						} else if got != want {
							t.Errorf("%s: %s = %q, want %q", ck.target, k, got, want)
						}
					}
				}
			}
		})
	}
	t.Logf("%d lvmthin(7) lines run, %d refused as not applying, %d not LVM commands", ran, refused, skipped)
}
