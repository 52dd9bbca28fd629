package metadata

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

func gunzipLines(t *testing.T, b []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
}

func gzipLines(lines []string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(strings.Join(lines, "\n") + "\n"))
	zw.Close()
	return b.Bytes()
}

func TestSnapshotFormat(t *testing.T) {
	h := newHarness(t)
	fx := newFixture(h)
	h.ok(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: "pending", Pool: fx.pool, SizeBytes: 1 << 20, Tags: []string{"t"}})
	b := snapshotBytes(t, h.f)
	lines := gunzipLines(t, b)
	kinds := make([]string, len(lines))
	for i, l := range lines {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil || len(m) != 1 {
			t.Fatalf("line %d %q: want one key (%v)", i, l, err)
		}
		for k := range m {
			kinds[i] = k
		}
	}
	// header, node, vg, pool, 3 volumes by name (pending, s1, v1), 2
	// finished intents, 1 pending, end.
	want := "header node vg pool volume volume volume intent intent intent end"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("records %q\nwant      %q", got, want)
	}
	if !strings.Contains(lines[0], `"format":"thinraft-metadata","version":2`) || !strings.Contains(lines[4], `"name":"pending"`) {
		t.Fatalf("not readable as documented:\n%s", strings.Join(lines[:5], "\n"))
	}
	if !strings.Contains(lines[len(lines)-2], `"state":"pending"`) {
		t.Fatalf("pending intent not last: %s", lines[len(lines)-2])
	}

	restore := func(b []byte) error { return New(Options{}).Restore(io.NopCloser(bytes.NewReader(b))) }
	if err := restore(b); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]string{
		"truncated":          lines[:len(lines)-1],
		"no header":          lines[1:],
		"wrong version":      append([]string{strings.Replace(lines[0], `"version":2`, `"version":3`, 1)}, lines[1:]...),
		"record missing":     append(append([]string{}, lines[:7]...), lines[8:]...),
		"header count":       append([]string{strings.Replace(lines[0], `"volumes":3`, `"volumes":4`, 1)}, lines[1:]...),
		"unknown field":      append(append([]string{}, lines[:4]...), append([]string{strings.Replace(lines[4], `{"volume":{`, `{"volume":{"colour":"red",`, 1)}, lines[5:]...)...),
		"duplicate volume":   append(append([]string{}, lines[:5]...), lines[4:]...),
		"volume before VG":   append([]string{lines[0], lines[1], lines[4], lines[2], lines[3]}, lines[5:]...),
		"queue out of order": append(append([]string{}, lines[:9]...), append([]string{strings.Replace(lines[9], `"from_txn":2`, `"from_txn":5`, 1)}, lines[10:]...)...),
	}
	// A uuid that is not 36 characters, everywhere the volume is named: the
	// record's indexes hold uuids as 36 bytes.
	vol := regexp.MustCompile(`"uuid":"([^"]+)"`).FindStringSubmatch(lines[4])[1]
	bad["malformed volume uuid"] = strings.Split(strings.ReplaceAll(strings.Join(lines, "\n"), vol, "vol-1"), "\n")
	for name, ls := range bad {
		if err := restore(gzipLines(ls)); err == nil {
			t.Errorf("%s: restored", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if err := restore([]byte("not gzip")); err == nil {
		t.Error("garbage restored")
	}
	// A failed restore leaves the FSM as it was.
	before := snapshotBytes(t, h.f)
	if err := h.f.Restore(io.NopCloser(bytes.NewReader(gzipLines(lines[:3])))); err == nil {
		t.Fatal("truncated restored")
	}
	if !bytes.Equal(before, snapshotBytes(t, h.f)) {
		t.Fatal("a failed restore changed the state")
	}
}

func TestRestoreWakesWatchers(t *testing.T) {
	h := newHarness(t)
	h.basic()
	b := snapshotBytes(t, h.f)
	f := New(Options{})
	ch := f.Watch()
	if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("restore did not wake watchers")
	}
	if f.AppliedIndex() != h.index || len(f.PoolsOfNode("n1")) != 1 {
		t.Fatalf("restored index %d", f.AppliedIndex())
	}
	ch = f.Watch()
	select {
	case <-ch:
		t.Fatal("woken without a change")
	default:
	}
}

// bulk builds a state of n active volumes in one pool by applying real
// commands (create, then batched completions).
func bulk(t testing.TB, n int) *harness {
	h := newHarness(t)
	pool := h.basic()
	h.ok(CmdNodeJoin, NodeJoin{ID: "n2", Addr: "10.0.0.2:7000"})
	for i := range n {
		h.ok(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: fmt.Sprintf("vol-%07d", i), Pool: pool, SizeBytes: 1 << 30,
			Tags: []string{"bulk"}})
		if i%500 == 499 || i == n-1 {
			h.completeAll(pool)
		}
	}
	return h
}

// TestRestore100k checks that a snapshot of 100,000 volumes restores to the
// same model, and logs the times the issue sets goals for (restore < 5 s,
// lock held for the copy < ~200 ms); BenchmarkSnapshotRestore100k and the
// cluster bench measure them.
func TestRestore100k(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100,000 volumes")
	}
	const n = 100000
	t0 := time.Now()
	h := bulk(t, n)
	build := time.Since(t0)

	t0 = time.Now()
	sn := h.f.snapshot()
	copyTime := time.Since(t0)
	var buf bytes.Buffer
	t0 = time.Now()
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	persist := time.Since(t0)

	f := New(Options{})
	t0 = time.Now()
	if err := f.Restore(io.NopCloser(bufio.NewReader(bytes.NewReader(buf.Bytes())))); err != nil {
		t.Fatal(err)
	}
	restore := time.Since(t0)
	t.Logf("%d volumes: built by %d commands in %v; snapshot copy %v (under the lock), persist %v (%d KiB gzip), restore %v",
		n, h.index, build.Round(time.Millisecond), copyTime.Round(time.Millisecond), persist.Round(time.Millisecond),
		buf.Len()>>10, restore.Round(time.Millisecond))
	if got := f.st.vgs["vg0"].volumes.len(); got != n {
		t.Fatalf("restored %d volumes", got)
	}
	if !bytes.Equal(buf.Bytes(), snapshotBytes(t, f)) {
		t.Fatal("restored state re-encodes differently")
	}
}
