package report

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCase is one report of the fixed model (model_test.go) and the file
// holding its expected output.
type goldenCase struct {
	file string
	kind Kind
	o    Options
	// hidden lists the pools' hidden LVs (lvs -a).
	hidden bool
}

func goldenCases() []goldenCase {
	extra := []string{"+lv_active,lv_device_open,thin_id,transaction_id,node,exclusive_bytes,shared_bytes,state,lv_tags,lv_time"}
	return []goldenCase{
		{file: "lvs.txt", kind: KindLV},
		{file: "lvs_all.txt", kind: KindLV, hidden: true},
		{file: "lvs_extra.txt", kind: KindLV, o: Options{Fields: extra}},
		{file: "lvs.json", kind: KindLV, o: Options{Format: FormatJSON, Fields: extra}},
		{file: "lvs_std.json", kind: KindLV, o: Options{Format: FormatJSONStd, Fields: extra}},
		{file: "lvs_std_units.json", kind: KindLV, o: Options{Format: FormatJSONStd, Units: "m", Fields: []string{"lv_name,lv_size,lv_tags,zero,thin_id"}}},
		{file: "lvs_bytes_sep.txt", kind: KindLV, o: Options{Units: "b", NoSuffix: true, Separator: ",", NoHeadings: true,
			Fields: []string{"lv_name,lv_size,data_percent,exclusive_bytes,shared_bytes"}}},
		{file: "lvs_sep_aligned.txt", kind: KindLV, o: Options{Separator: " | ", Aligned: true, Fields: []string{"name,size,origin"}}},
		{file: "lvs_sort.txt", kind: KindLV, o: Options{Sort: []string{"-lv_size,lv_name"}, Fields: []string{"lv_name,lv_size,lv_attr"}}},
		{file: "lvs_compact.txt", kind: KindLV, o: Options{Fields: []string{"lv_name,origin,move_pv,lv_size", "#origin,move_pv"}}},
		{file: "lvs_prefixes.txt", kind: KindLV, o: Options{NamePrefixes: true, NoHeadings: true, Fields: []string{"lv_name,lv_size,data_percent"}}},
		{file: "lvs_binary.txt", kind: KindLV, o: Options{Binary: true, Fields: []string{"lv_name,lv_active,zero,lv_skip_activation"}}},
		{file: "lvs_pool_fields.txt", kind: KindLV, o: Options{Units: "k", Fields: []string{"lv_name,segtype,chunk_size,lv_metadata_size,discards,zero,lv_when_full,thin_count,transaction_id,lv_health_status,lv_check_needed,lv_permissions"}}},
		{file: "vgs.txt", kind: KindVG},
		{file: "vgs.json", kind: KindVG, o: Options{Format: FormatJSON, Fields: []string{"+vg_tags,pool_count"}}},
		{file: "vgs_std.json", kind: KindVG, o: Options{Format: FormatJSONStd, Fields: []string{"+vg_tags,pool_count"}}},
		{file: "pvs.txt", kind: KindPV},
		{file: "pvs_nodes.txt", kind: KindPV, o: Options{Fields: []string{"+node_id,node_state,node_voter,node_raft_addr,node_api_addr,node_nbd_addr"}}},
		{file: "pvs.json", kind: KindPV, o: Options{Format: FormatJSON, Fields: []string{"+node_state,node_voter"}}},
		{file: "pvs_std.json", kind: KindPV, o: Options{Format: FormatJSONStd, Fields: []string{"+node_state,node_voter"}}},
	}
}

// render prints one golden case's report.
func (c goldenCase) render(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	o := c.o
	o.Location = time.UTC
	var err error
	switch c.kind {
	case KindLV:
		err = LVs(&buf, fixtureLVRows(c.hidden), o)
	case KindVG:
		err = VGs(&buf, BuildVGRows(fixtureVGs(), fixturePools(), fixtureVolumes(), fixtureNodes()), o)
	case KindPV:
		err = PVs(&buf, BuildPVRows(fixtureNodes(), fixturePools()), o)
	}
	if err != nil {
		t.Fatalf("%s: %v", c.file, err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.file, func(t *testing.T) {
			got := c.render(t)
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", c.file, got, want)
			}
		})
	}
}

func TestFieldHelpGolden(t *testing.T) {
	for _, k := range []Kind{KindLV, KindVG, KindPV} {
		var buf bytes.Buffer
		if err := FieldHelp(&buf, k); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", k.Command()+"_help.txt")
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s -o help differs from %s:\n%s", k.Command(), path, buf.Bytes())
		}
	}
}

func TestNoRows(t *testing.T) {
	var buf bytes.Buffer
	if err := LVs(&buf, nil, Options{}); err != nil || buf.Len() != 0 {
		t.Errorf("basic report of no rows: got %q, %v; want nothing (LVM prints no headings either)", buf.String(), err)
	}
	buf.Reset()
	if err := LVs(&buf, nil, Options{Format: FormatJSON}); err != nil {
		t.Fatal(err)
	}
	// The exact bytes lvm2 2.03.16's `lvs --reportformat json` prints with no LVs.
	want := "  {\n      \"report\": [\n          {\n              \"lv\": [\n              ]\n          }\n      ]\n  }\n"
	if buf.String() != want {
		t.Errorf("json report of no rows:\ngot  %q\nwant %q", buf.String(), want)
	}
}

func TestBadOptions(t *testing.T) {
	rows := fixtureLVRows(false)
	for _, o := range []Options{{Format: "xml"}, {Units: "q"}, {Fields: []string{"nope"}}, {Sort: []string{"nope"}}} {
		var buf bytes.Buffer
		if err := LVs(&buf, rows, o); err == nil || buf.Len() != 0 {
			t.Errorf("options %+v: got error %v and %d bytes of output; want an error and no output", o, err, buf.Len())
		}
	}
}

// BenchmarkLVs100k prints the default lvs report of 100,000 volumes (the
// cluster bench's largest model).
func BenchmarkLVs100k(b *testing.B) {
	pools := fixturePools()[:1]
	vols := make([]metadata.Volume, 100_000)
	for i := range vols {
		vols[i] = metadata.Volume{UUID: fmt.Sprintf("u%d", i), VG: "vg0", Name: fmt.Sprintf("vol%06d", (i*7919)%100_000),
			Pool: "p0", ThinID: uint32(i + 1), SizeBytes: gib, State: metadata.VolumeActive, Active: true}
	}
	rows := BuildLVRows(pools, vols, fixtureNodes(), false)
	b.ResetTimer()
	for b.Loop() {
		if err := LVs(io.Discard, rows, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
