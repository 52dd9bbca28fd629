package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseReport(t *testing.T) {
	for _, c := range []struct {
		name, in, kind string
		rows           int
		err            string
	}{
		{"lvs", `{"report":[{"lv":[{"lv_name":"a","lv_size":"1"},{"lv_name":"b","lv_size":"2"}]}]}`, "lv", 2, ""},
		{"empty", `{"report":[{"lv":[]}]}`, "lv", 0, ""},
		{"pvs", `{"report":[{"pv":[{"pv_name":"n1"}]}]}`, "pv", 1, ""},
		{"wrong kind", `{"report":[{"pv":[{"pv_name":"n1"}]}]}`, "lv", 0, `holds only "lv"`},
		{"two kinds", `{"report":[{"lv":[],"vg":[]}]}`, "lv", 0, `holds only "lv"`},
		{"two elements", `{"report":[{"lv":[]},{"lv":[]}]}`, "lv", 0, "one element"},
		{"no report", `{"lv":[]}`, "lv", 0, "shape"},
		{"json_std numbers", `{"report":[{"lv":[{"lv_size":1}]}]}`, "lv", 0, "shape"},
		{"not json", `  LV VG`, "lv", 0, "shape"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows, err := parseReport(c.in, c.kind)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || len(rows) != c.rows {
				t.Fatalf("%d rows, %v; want %d rows", len(rows), err, c.rows)
			}
		})
	}
}

func TestLeaderOf(t *testing.T) {
	status := "  Answered by      n1\n  Leader           n3 127.0.0.1:20064\n  Members          3\n"
	if got, err := leaderOf(status); err != nil || got != "n3" {
		t.Fatalf("leaderOf = %q, %v; want n3", got, err)
	}
	if _, err := leaderOf("  Answered by      n1\n"); err == nil {
		t.Fatal("no Leader line: want an error")
	}
}

func TestCheckLV(t *testing.T) {
	lvs := map[string]row{"thin1": {"lv_name": "thin1", "lv_attr": "Vwi-a-tz--", "lv_size": "268435456",
		"pool_lv": "pool0", "origin": "", "exclusive_bytes": "16777216", "shared_bytes": "16777216", "node": "n1"}}
	for _, c := range []struct {
		name, lv string
		want     lvWant
		err      string
	}{
		{"all held", "thin1", lvWant{attr: "Vwi-a-tz--", size: 256 * mib, pool: "pool0", node: "n1", excl: ptr(16 * mib), shrd: ptr(16 * mib)}, ""},
		{"prefix", "thin1", lvWant{attrPrefix: "Vwi-a"}, ""},
		{"missing", "thin2", lvWant{}, "a row for vg0/thin2"},
		{"attr", "thin1", lvWant{attr: "Vwi---tz-k"}, "lv_attr"},
		{"prefix differs", "thin1", lvWant{attrPrefix: "twi"}, "lv_attr"},
		{"size", "thin1", lvWant{size: 512 * mib}, "lv_size: expected 536870912 bytes (512 MiB), got 268435456 bytes (256 MiB)"},
		{"exclusive", "thin1", lvWant{excl: ptr(32 * mib)}, "exclusive_bytes"},
		{"shared zero", "thin1", lvWant{shrd: ptr(0)}, "shared_bytes"},
		{"node", "thin1", lvWant{node: "n2"}, "node"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkLV(lvs, c.lv, c.want)
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
		})
	}
	if _, err := bytesField(row{"lv_size": "1.00g"}, "lv_size"); err == nil {
		t.Fatal("a human size is not a byte count: want an error")
	}
}

// gz compresses backup lines as vgcfgbackup writes them.
func gz(t *testing.T, lines ...string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b.backup")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBackup(t *testing.T) {
	header := `{"header":{"format":"thinraft-metadata","version":2,"index":9,"nodes":1,"vgs":1,"pools":1,"volumes":1}}`
	body := []string{`{"node":{"id":"n1"}}`, `{"vg":{"name":"vg0"}}`, `{"pool":{"name":"p"}}`, `{"volume":{"name":"v"}}`, `{"intent":{}}`}
	good := append(append([]string{header}, body...), `{"end":{"records":6}}`)
	for _, c := range []struct {
		name  string
		lines []string
		err   string
	}{
		{"good", good, ""},
		{"no header", append(clone(body), `{"end":{"records":5}}`), "want the header"},
		{"truncated", append([]string{header}, body...), "truncated"},
		{"after end", append(clone(good), `{"volume":{}}`), "after the end record"},
		{"two keys", []string{`{"header":{},"node":{}}`}, "one naming the record kind"},
		{"end count", append(append([]string{header}, body...), `{"end":{"records":5}}`), "end record's count"},
		{"counts", append(append([]string{header}, body[1:]...), `{"end":{"records":5}}`), "backup records"},
		{"format", append([]string{strings.Replace(header, "thinraft-metadata", "other", 1)}, good[1:]...), "format"},
		{"header counts", append([]string{strings.Replace(header, `"pools":1`, `"pools":2`, 1)}, good[1:]...), "header counts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := readBackup(gz(t, c.lines...))
			if err == nil {
				err = s.check(1, 1, 1, 1)
			}
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
		})
	}
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte(header+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readBackup(plain); err == nil || !strings.Contains(err.Error(), "not gzip") {
		t.Fatalf("uncompressed file: %v, want not gzip", err)
	}
}

// clone copies a line list so appends do not share its array.
func clone(s []string) []string { return append([]string(nil), s...) }

func TestQuoteArgs(t *testing.T) {
	got := quoteArgs([]string{"lvs", "-o", "+exclusive_bytes,shared_bytes", "a b", "it's", ""})
	want := `lvs -o +exclusive_bytes,shared_bytes 'a b' 'it'\''s' ''`
	if got != want {
		t.Fatalf("quoteArgs = %s, want %s", got, want)
	}
}
