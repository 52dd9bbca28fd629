package node

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestSlogWriter: hclog lines keep their level and become JSON records.
func TestSlogWriter(t *testing.T) {
	var buf bytes.Buffer
	w := slogWriter{Logger(&buf, "debug")}
	in := "2026-11-22T22:29:55.625Z [ERROR] raft/n1: failed to appendEntries: peer=x\n" +
		"2026-11-22T22:29:55.626Z [INFO]  raft/n1: entering leader state\nplain line\n"
	if n, err := w.Write([]byte(in)); err != nil || n != len(in) {
		t.Fatalf("write: %d %v", n, err)
	}
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		got = append(got, m)
	}
	want := [][2]string{{"ERROR", "raft/n1: failed to appendEntries: peer=x"}, {"INFO", "raft/n1: entering leader state"}, {"WARN", "plain line"}}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %s", len(got), len(want), buf.String())
	}
	for i, w := range want {
		if got[i]["level"] != w[0] || got[i]["msg"] != w[1] {
			t.Errorf("record %d: %v, want %v", i, got[i], w)
		}
	}
}
