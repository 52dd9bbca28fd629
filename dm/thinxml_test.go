package dm

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// thinTool returns the path of a thin-provisioning-tools command. A missing
// tool fails the test with the install command: the XML codec is only
// trustworthy when checked against the real tools.
func thinTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install thin-provisioning-tools (apt-get install -y thin-provisioning-tools)", name)
	}
	return p
}

// runTool runs a thin tool with a timeout and returns its stdout.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, thinTool(t, name), args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String()
}

// restoreAndDump thin_restores xml into a fresh metadata file, thin_checks
// it and returns thin_dump's output.
func restoreAndDump(t *testing.T, xmlText []byte) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.xml")
	meta := filepath.Join(dir, "meta.bin")
	if err := os.WriteFile(in, xmlText, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(meta, 16<<20); err != nil {
		t.Fatal(err)
	}
	runTool(t, "thin_restore", "-i", in, "-o", meta)
	runTool(t, "thin_check", meta)
	return runTool(t, "thin_dump", meta)
}

func sampleDump() *MetadataDump {
	return &MetadataDump{
		Time: 3, Transaction: 7, Version: 2, DataBlockSectors: 128, NrDataBlocks: 1024,
		Devices: []DeviceDump{
			{ID: 1, MappedBlocks: 3, Transaction: 2, CreationTime: 2, SnapTime: 2, Mappings: []Mapping{
				{OriginBlock: 0, DataBlock: 0, Length: 3, Time: 0},
			}},
			{ID: 0, MappedBlocks: 7, Transaction: 1, CreationTime: 0, SnapTime: 2, Mappings: []Mapping{
				{OriginBlock: 0, DataBlock: 0, Length: 3, Time: 0},
				// Three singles that continue each other: one range.
				{OriginBlock: 10, DataBlock: 20, Length: 1, Time: 1},
				{OriginBlock: 11, DataBlock: 21, Length: 1, Time: 1},
				{OriginBlock: 12, DataBlock: 22, Length: 1, Time: 1},
				// Continues in origin and data but not in time: stays apart.
				{OriginBlock: 13, DataBlock: 23, Length: 1, Time: 2},
			}},
			{ID: 5, MappedBlocks: 0, Transaction: 3, CreationTime: 3, SnapTime: 3},
		},
	}
}

const sampleXML = `<superblock uuid="" time="3" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="1024">
  <device dev_id="0" mapped_blocks="7" transaction="1" creation_time="0" snap_time="2">
    <range_mapping origin_begin="0" data_begin="0" length="3" time="0"/>
    <range_mapping origin_begin="10" data_begin="20" length="3" time="1"/>
    <single_mapping origin_block="13" data_block="23" time="2"/>
  </device>
  <device dev_id="1" mapped_blocks="3" transaction="2" creation_time="2" snap_time="2">
    <range_mapping origin_begin="0" data_begin="0" length="3" time="0"/>
  </device>
  <device dev_id="5" mapped_blocks="0" transaction="3" creation_time="3" snap_time="3">
  </device>
</superblock>
`

func TestWriteThinXMLFormat(t *testing.T) {
	d := sampleDump()
	before := *d
	beforeDevs := append([]DeviceDump(nil), d.Devices...)
	var b bytes.Buffer
	if err := WriteThinXML(&b, d); err != nil {
		t.Fatal(err)
	}
	if b.String() != sampleXML {
		t.Fatalf("WriteThinXML:\n%s\nwant:\n%s", b.String(), sampleXML)
	}
	if !reflect.DeepEqual(d.Devices, beforeDevs) || d.UUID != before.UUID {
		t.Fatal("WriteThinXML modified its argument")
	}
}

// TestThinXMLAgainstThinTools: what WriteThinXML writes, thin_restore
// accepts and thin_check passes, and thin_dump prints back byte for byte;
// ReadThinXML of thin_dump's output gives back the canonical dump.
func TestThinXMLAgainstThinTools(t *testing.T) {
	d := sampleDump()
	var b bytes.Buffer
	if err := WriteThinXML(&b, d); err != nil {
		t.Fatal(err)
	}
	got := restoreAndDump(t, b.Bytes())
	if got != b.String() {
		t.Fatalf("thin_dump after thin_restore differs:\n%s\nours:\n%s", got, b.String())
	}
	back, err := ReadThinXML(strings.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if want := canonicalDump(d); !reflect.DeepEqual(back, want) {
		t.Fatalf("ReadThinXML(thin_dump):\n%+v\nwant\n%+v", back, want)
	}
}

// randomDump builds a valid dump in which snapshots share data blocks
// with their origins, as a pool's metadata does.
func randomDump(rng *rand.Rand) *MetadataDump {
	nr := uint64(256 + rng.Intn(4096))
	d := &MetadataDump{
		Time: uint32(rng.Intn(50)), Transaction: uint64(rng.Intn(1000)), Version: 2,
		DataBlockSectors: uint32(128 * (1 + rng.Intn(16))), NrDataBlocks: nr,
	}
	ndev := 1 + rng.Intn(5)
	used := uint64(0)
	for i := 0; i < ndev; i++ {
		dev := DeviceDump{ID: uint32(i*3 + rng.Intn(3)), Transaction: uint64(rng.Intn(10)),
			CreationTime: uint32(rng.Intn(5)), SnapTime: uint32(5 + rng.Intn(5))}
		if i > 0 && rng.Intn(2) == 0 {
			// A snapshot: shares its origin's runs.
			prev := d.Devices[i-1]
			dev.Mappings = append([]Mapping(nil), prev.Mappings...)
		} else {
			origin := uint64(0)
			for n := rng.Intn(12); n > 0 && used < nr; n-- {
				origin += uint64(rng.Intn(40))
				l := uint64(1 + rng.Intn(6))
				if l > nr-used {
					l = nr - used
				}
				// Split a run into singles sometimes, to exercise merging.
				if rng.Intn(3) == 0 {
					for k := uint64(0); k < l; k++ {
						dev.Mappings = append(dev.Mappings, Mapping{OriginBlock: origin + k, DataBlock: used + k, Length: 1, Time: 3})
					}
				} else {
					dev.Mappings = append(dev.Mappings, Mapping{OriginBlock: origin, DataBlock: used, Length: l, Time: uint32(rng.Intn(4))})
				}
				origin += l
				used += l
			}
		}
		for _, m := range dev.Mappings {
			dev.MappedBlocks += m.Length
		}
		d.Devices = append(d.Devices, dev)
	}
	return d
}

func TestThinXMLRandomRoundTripThroughTools(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	for i := 0; i < 8; i++ {
		d := randomDump(rng)
		var b bytes.Buffer
		if err := WriteThinXML(&b, d); err != nil {
			t.Fatalf("dump %d: %v", i, err)
		}
		got := restoreAndDump(t, b.Bytes())
		if got != b.String() {
			t.Fatalf("dump %d: thin_dump differs:\n%s\nours:\n%s", i, got, b.String())
		}
		back, err := ReadThinXML(strings.NewReader(got))
		if err != nil {
			t.Fatalf("dump %d: %v", i, err)
		}
		if want := canonicalDump(d); !reflect.DeepEqual(back, want) {
			t.Fatalf("dump %d: read back\n%+v\nwant\n%+v", i, back, want)
		}
	}
}

func TestReadThinXMLAccepts(t *testing.T) {
	cases := map[string]string{
		"declaration and comments": `<?xml version="1.0" encoding="UTF-8"?>
<!-- made by hand -->
<superblock uuid="x&amp;y" time="0" transaction="0" flags="0" version="1" data_block_size="2097152" nr_data_blocks="1">
  <!-- nothing mapped -->
  <device dev_id="16777215" mapped_blocks="1" transaction="0" creation_time="0" snap_time="0"><single_mapping origin_block="18446744073709551614" data_block="0" time="16777215"></single_mapping></device>
</superblock>`,
		"metadata snap": `<superblock uuid="" time="1" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="8" metadata_snap="12"></superblock>`,
		"no devices":    `<superblock uuid="" time="1" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="0"/>`,
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			d, err := ReadThinXML(strings.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := WriteThinXML(&b, d); err != nil {
				t.Fatal(err)
			}
			again, err := ReadThinXML(&b)
			if err != nil {
				t.Fatalf("re-read: %v\n%s", err, b.String())
			}
			if !reflect.DeepEqual(d, again) {
				t.Fatalf("round trip:\n%+v\n%+v", d, again)
			}
		})
	}
	d, err := ReadThinXML(strings.NewReader(cases["declaration and comments"]))
	if err != nil {
		t.Fatal(err)
	}
	if d.UUID != "x&y" || d.Devices[0].ID != MaxThinID || d.Devices[0].Mappings[0].Time != 1<<24-1 {
		t.Fatalf("values: %+v", d)
	}
}

func TestReadThinXMLMergesRuns(t *testing.T) {
	text := `<superblock uuid="" time="3" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="100">
<device dev_id="0" mapped_blocks="5" transaction="1" creation_time="0" snap_time="2">
<single_mapping origin_block="4" data_block="9" time="1"/>
<range_mapping origin_begin="5" data_begin="10" length="2" time="1"/>
<single_mapping origin_block="7" data_block="11" time="1"/>
<single_mapping origin_block="8" data_block="12" time="1"/>
</device></superblock>`
	d, err := ReadThinXML(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{{OriginBlock: 4, DataBlock: 9, Length: 3, Time: 1}, {OriginBlock: 7, DataBlock: 11, Length: 2, Time: 1}}
	if !reflect.DeepEqual(d.Devices[0].Mappings, want) {
		t.Fatalf("mappings %+v, want %+v", d.Devices[0].Mappings, want)
	}
}

func TestReadThinXMLRefuses(t *testing.T) {
	const sb = `<superblock uuid="" time="3" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="100">`
	const dev = `<device dev_id="0" mapped_blocks="1" transaction="1" creation_time="0" snap_time="2">`
	wrap := func(inner string) string { return sb + dev + inner + `</device></superblock>` }
	cases := []struct{ name, text, want string }{
		{"empty", ``, "no superblock"},
		{"wrong root", `<metadata/>`, "want <superblock>"},
		{"two roots", sb + `</superblock>` + sb + `</superblock>`, "after </superblock>"},
		{"unclosed", sb + dev, "end of input"},
		{"mismatched end", sb + dev + `</superblock></device>`, "want a mapping or </device>"},
		{"unknown element", wrap(`<named_mapping/>`), "unknown element <named_mapping>"},
		{"unknown attribute", `<superblock uuid="" time="3" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="100" colour="red"/>`, `unknown attribute "colour"`},
		{"namespace", `<superblock xmlns="urn:x" uuid="" time="3" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="100"/>`, "unknown attribute"},
		{"repeated attribute", `<superblock uuid="" uuid="" time="3" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="100"/>`, "repeated"},
		{"missing attribute", `<superblock uuid="" time="3" transaction="7" version="2" data_block_size="128" nr_data_blocks="100"/>`, `lacks attribute "flags"`},
		{"text", sb + `hello</superblock>`, "unexpected text"},
		{"doctype", `<!DOCTYPE superblock>` + sb + `</superblock>`, "directive"},
		{"entity", `<superblock uuid="&foo;" time="3" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="100"/>`, "malformed"},
		{"negative", wrap(`<single_mapping origin_block="-1" data_block="1" time="0"/>`), "not a decimal"},
		{"hex", wrap(`<single_mapping origin_block="0x1" data_block="1" time="0"/>`), "not a decimal"},
		{"leading zero", wrap(`<single_mapping origin_block="01" data_block="1" time="0"/>`), "leading zero"},
		{"overflow", wrap(`<single_mapping origin_block="18446744073709551616" data_block="1" time="0"/>`), "out of range"},
		{"time over 24 bits", wrap(`<single_mapping origin_block="0" data_block="1" time="16777216"/>`), "over the limit"},
		{"dev id over 24 bits", sb + `<device dev_id="16777216" mapped_blocks="0" transaction="1" creation_time="0" snap_time="2"></device></superblock>`, "over the limit"},
		{"superblock time over 32 bits", `<superblock uuid="" time="4294967296" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="100"/>`, "over the limit"},
		{"data block outside pool", wrap(`<single_mapping origin_block="0" data_block="100" time="0"/>`), "outside the pool"},
		{"range outside pool", sb + `<device dev_id="0" mapped_blocks="2" transaction="1" creation_time="0" snap_time="2"><range_mapping origin_begin="0" data_begin="99" length="2" time="0"/></device></superblock>`, "outside the pool"},
		{"zero length", wrap(`<range_mapping origin_begin="0" data_begin="1" length="0" time="0"/>`), "length 0"},
		{"overlap", sb + `<device dev_id="0" mapped_blocks="3" transaction="1" creation_time="0" snap_time="2"><range_mapping origin_begin="0" data_begin="1" length="2" time="0"/><single_mapping origin_block="1" data_block="50" time="0"/></device></superblock>`, "overlaps"},
		{"origin wraps", sb + `<device dev_id="0" mapped_blocks="2" transaction="1" creation_time="0" snap_time="2"><range_mapping origin_begin="18446744073709551615" data_begin="1" length="2" time="0"/></device></superblock>`, "past the end"},
		{"mapped_blocks wrong", sb + `<device dev_id="0" mapped_blocks="5" transaction="1" creation_time="0" snap_time="2"><single_mapping origin_block="0" data_block="1" time="0"/></device></superblock>`, "mapped_blocks is 5"},
		{"duplicate device", sb + `<device dev_id="0" mapped_blocks="0" transaction="1" creation_time="0" snap_time="2"/><device dev_id="0" mapped_blocks="0" transaction="1" creation_time="0" snap_time="2"/></superblock>`, "appears twice"},
		{"bad version", `<superblock uuid="" time="3" transaction="7" flags="0" version="3" data_block_size="128" nr_data_blocks="100"/>`, "version 3"},
		{"bad block size", `<superblock uuid="" time="3" transaction="7" flags="0" version="2" data_block_size="192" nr_data_blocks="100"/>`, "data_block_size 192"},
		{"metadata snap 0", `<superblock uuid="" time="3" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="100" metadata_snap="0"/>`, "metadata_snap 0"},
		{"mapping not empty", wrap(`<single_mapping origin_block="0" data_block="1" time="0"><device/></single_mapping>`), "must be empty"},
		{"mapping outside device", sb + `<single_mapping origin_block="0" data_block="1" time="0"/></superblock>`, "want <device>"},
		{"processing instruction inside", sb + `<?foo bar?></superblock>`, "processing instruction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := ReadThinXML(strings.NewReader(c.text))
			if err == nil {
				t.Fatalf("accepted: %+v", d)
			}
			var xe *ThinXMLError
			if !errors.As(err, &xe) {
				t.Fatalf("error %v is %T, want *ThinXMLError", err, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestWriteThinXMLRefusesInvalid(t *testing.T) {
	cases := map[string]func(d *MetadataDump){
		"mapped_blocks":   func(d *MetadataDump) { d.Devices[0].MappedBlocks++ },
		"overlap":         func(d *MetadataDump) { d.Devices[1].Mappings[1].OriginBlock = 2 },
		"outside pool":    func(d *MetadataDump) { d.NrDataBlocks = 10 },
		"duplicate id":    func(d *MetadataDump) { d.Devices[2].ID = 1 },
		"id over 24 bits": func(d *MetadataDump) { d.Devices[2].ID = MaxThinID + 1 },
		"time":            func(d *MetadataDump) { d.Devices[0].Mappings[0].Time = 1 << 24 },
		"block size":      func(d *MetadataDump) { d.DataBlockSectors = 64 },
		"uuid":            func(d *MetadataDump) { d.UUID = "a\x01b" },
		"zero length":     func(d *MetadataDump) { d.Devices[1].Mappings[0].Length = 0 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			d := sampleDump()
			mutate(d)
			var b bytes.Buffer
			if err := WriteThinXML(&b, d); err == nil {
				t.Fatalf("written:\n%s", b.String())
			}
			if b.Len() != 0 {
				t.Fatalf("wrote %d bytes before refusing", b.Len())
			}
		})
	}
	if err := WriteThinXML(&bytes.Buffer{}, nil); err == nil {
		t.Fatal("nil dump accepted")
	}
}
