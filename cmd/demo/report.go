package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/thinraft/thinraft/metadata"
)

// row is one line of an LVM JSON report: field name to value, all strings
// as LVM prints them (--reportformat json).
type row map[string]string

// parseReport reads LVM's JSON report shape, {"report":[{KIND:[{...}]}]},
// and returns the rows of KIND ("lv", "vg", "pv"). Anything else in the
// shape is an error: the demo checks that the CLI speaks LVM's format.
func parseReport(out, kind string) ([]row, error) {
	var doc struct {
		Report []map[string][]row `json:"report"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not LVM's JSON report shape {\"report\":[{%q:[...]}]}: %w", kind, err)
	}
	if len(doc.Report) != 1 {
		return nil, fmt.Errorf("LVM's JSON report has one element in \"report\", got %d", len(doc.Report))
	}
	rows, ok := doc.Report[0][kind]
	if !ok || len(doc.Report[0]) != 1 {
		return nil, fmt.Errorf("LVM's JSON report holds only %q, got keys %v", kind, keys(doc.Report[0]))
	}
	return rows, nil
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// byName indexes rows by one field (lv_name, pv_name).
func byName(rows []row, field string) map[string]row {
	out := map[string]row{}
	for _, r := range rows {
		out[r[field]] = r
	}
	return out
}

// bytesField reads a size printed with --units b --nosuffix.
func bytesField(r row, field string) (uint64, error) {
	v, ok := r[field]
	if !ok {
		return 0, fmt.Errorf("field %s missing from the report", field)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("field %s = %q: not a byte count", field, v)
	}
	return n, nil
}

// leaderOf reads the leader's id from `thinraft cluster status`:
//
//	Leader           n1 127.0.0.1:7401
func leaderOf(status string) (string, error) {
	for _, l := range strings.Split(status, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "Leader" {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("no Leader line in cluster status")
}

// backupHeader is the first line of a metadata backup (vgcfgbackup -f):
// the metadata snapshot format, a gzip stream of JSON lines.
type backupHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
	Nodes   int    `json:"nodes"`
	VGs     int    `json:"vgs"`
	Pools   int    `json:"pools"`
	Volumes int    `json:"volumes"`
}

// backupSummary is what the demo checks in a backup file.
type backupSummary struct {
	header backupHeader
	// records counts the lines between the header and the end record,
	// kind by kind; endRecords is what the end record says.
	records    map[string]int
	endRecords int
}

// readBackup reads a backup file: a header line first, one record per
// line, an end record last that counts the records.
func readBackup(path string) (*backupSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not gzip: %w", path, err)
	}
	return scanBackup(zr)
}

func scanBackup(r io.Reader) (*backupSummary, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	s := &backupSummary{records: map[string]int{}, endRecords: -1}
	line := 0
	for sc.Scan() {
		line++
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) != 1 {
			return nil, fmt.Errorf("line %d: %d keys, want one naming the record kind", line, len(rec))
		}
		kind := keys(rec)[0]
		switch {
		case line == 1 && kind != "header":
			return nil, fmt.Errorf("line 1 is %q, want the header", kind)
		case kind == "header" && line == 1:
			if err := json.Unmarshal(rec[kind], &s.header); err != nil {
				return nil, fmt.Errorf("header: %w", err)
			}
		case s.endRecords >= 0:
			return nil, fmt.Errorf("line %d: %q after the end record", line, kind)
		case kind == "end":
			var end struct {
				Records int `json:"records"`
			}
			if err := json.Unmarshal(rec[kind], &end); err != nil {
				return nil, fmt.Errorf("end record: %w", err)
			}
			s.endRecords = end.Records
		default:
			s.records[kind]++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if line == 0 {
		return nil, fmt.Errorf("empty backup")
	}
	if s.endRecords < 0 {
		return nil, fmt.Errorf("no end record: the backup is truncated")
	}
	return s, nil
}

// check compares a backup with what the demo made.
func (s *backupSummary) check(nodes, vgs, pools, volumes int) error {
	h := s.header
	n := 0
	for _, c := range s.records {
		n += c
	}
	switch {
	case h.Format != metadata.SnapshotFormat:
		return mismatch("backup header format", metadata.SnapshotFormat, h.Format)
	case h.Version < 1:
		return mismatch("backup header version", ">= 1", h.Version)
	case h.Nodes != nodes || h.VGs != vgs || h.Pools != pools || h.Volumes != volumes:
		return mismatch("backup header counts (nodes, vgs, pools, volumes)",
			fmt.Sprint(nodes, vgs, pools, volumes), fmt.Sprint(h.Nodes, h.VGs, h.Pools, h.Volumes))
	case s.records["node"] != nodes || s.records["vg"] != vgs || s.records["pool"] != pools || s.records["volume"] != volumes:
		return mismatch("backup records (node, vg, pool, volume lines)",
			fmt.Sprint(nodes, vgs, pools, volumes), fmt.Sprint(s.records["node"], s.records["vg"], s.records["pool"], s.records["volume"]))
	case s.endRecords != n+1:
		// The end record counts the records before it, header included.
		return mismatch("backup end record's count", n+1, s.endRecords)
	}
	return nil
}
