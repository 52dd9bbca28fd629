package emu_test

// The second oracle: the userspace engine's metadata, exported in
// thin_dump's XML, must be metadata the real thin-provisioning-tools accept
// (thin_restore, thin_check) and about which they give the engine's own
// answers (thin_dump, thin_ls, thin_delta); and metadata the tools wrote
// must load into the engine with the same mappings. A missing tool fails
// the test with the install command: this oracle never skips.

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/emu"
)

const (
	oBlockSectors = 128 // 64 KiB pool blocks
	oBlock        = oBlockSectors * dm.SectorSize
	oThinBlocks   = 64 // thin device size in pool blocks
	oDataBlocks   = 512
	oMetaBytes    = 16 << 20
)

func oracleTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install thin-provisioning-tools (apt-get install -y thin-provisioning-tools)", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String()
}

func sizedFile(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// oracleEnv is one engine with one pool in a temporary directory.
type oracleEnv struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	eng  *emu.Engine
	open map[uint32]dm.BlockDevice
}

func newOracleEnv(t *testing.T, dir string) *oracleEnv {
	t.Helper()
	eng, err := emu.New(emu.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := &oracleEnv{t: t, ctx: context.Background(), dir: dir, eng: eng, open: map[uint32]dm.BlockDevice{}}
	t.Cleanup(func() { e.eng.Close() })
	return e
}

func (e *oracleEnv) must(err error, what string, args ...any) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

func (e *oracleEnv) createPool() {
	e.t.Helper()
	p := dm.ThinPoolParams{MetadataDev: "meta", DataDev: "data", DataBlockSectors: oBlockSectors}
	_, err := e.eng.Create(e.ctx, "pool", dm.CreateOptions{Table: dm.Table{p.Target(oDataBlocks * oBlockSectors)}})
	e.must(err, "create pool")
}

func (e *oracleEnv) msg(m string) {
	e.t.Helper()
	_, err := e.eng.Message(e.ctx, "pool", 0, m)
	e.must(err, "message %q", m)
}

func thinName(id uint32) string { return fmt.Sprintf("thin%d", id) }

// dev activates thin id (once) and returns it open.
func (e *oracleEnv) dev(id uint32) dm.BlockDevice {
	e.t.Helper()
	if bd, ok := e.open[id]; ok {
		return bd
	}
	tbl := dm.Table{dm.ThinParams{PoolDev: "pool", ID: id}.Target(oThinBlocks * oBlockSectors)}
	_, err := e.eng.Create(e.ctx, thinName(id), dm.CreateOptions{Table: tbl})
	e.must(err, "activate thin %d", id)
	bd, err := e.eng.Open(e.ctx, thinName(id))
	e.must(err, "open thin %d", id)
	e.open[id] = bd
	return bd
}

// fill writes block b of thin id with a byte pattern naming both.
func (e *oracleEnv) fill(id uint32, b int64, length int) {
	e.t.Helper()
	p := bytes.Repeat([]byte{byte(id), byte(b)}, length/2)
	_, err := e.dev(id).WriteAt(p, b*oBlock)
	e.must(err, "write thin %d block %d", id, b)
}

// snap snapshots an active origin with the origin suspended.
func (e *oracleEnv) snap(id, origin uint32) {
	e.t.Helper()
	e.must(e.dev(origin).Flush(), "flush %d", origin)
	e.must(e.eng.Suspend(e.ctx, thinName(origin), dm.SuspendOptions{}), "suspend %d", origin)
	e.msg(dm.CreateSnapMsg(id, origin))
	e.must(e.eng.Resume(e.ctx, thinName(origin)), "resume %d", origin)
}

// teardown closes and removes every device, the pool last.
func (e *oracleEnv) teardown() {
	e.t.Helper()
	for id, bd := range e.open {
		e.must(bd.Flush(), "flush %d", id)
		e.must(bd.Close(), "close %d", id)
		e.must(e.eng.Remove(e.ctx, thinName(id), dm.RemoveOptions{}), "remove %d", id)
		delete(e.open, id)
	}
	e.must(e.eng.Remove(e.ctx, "pool", dm.RemoveOptions{}), "remove pool")
}

// buildHistory drives a pool through thin devices, writes, snapshots, a
// snapshot of a snapshot, copy-on-write on both sides, discards, a delete
// and transaction ids.
func (e *oracleEnv) buildHistory() {
	e.t.Helper()
	e.createPool()
	e.msg(dm.CreateThinMsg(1))
	for b := int64(0); b < 10; b++ {
		e.fill(1, b, oBlock)
	}
	e.fill(1, 20, 4096) // partial write: the block is provisioned whole
	e.fill(1, 63, oBlock)
	e.msg(dm.CreateThinMsg(2))
	for b := int64(30); b < 35; b++ {
		e.fill(2, b, oBlock)
	}
	e.msg(dm.SetTransactionIDMsg(0, 1))

	e.snap(3, 1)
	e.fill(1, 2, oBlock) // copy-on-write in the origin
	e.fill(1, 3, 4096)   // partial copy-on-write
	e.fill(1, 40, oBlock)
	e.fill(3, 5, oBlock) // copy-on-write in the snapshot
	e.fill(3, 50, oBlock)
	e.snap(4, 3) // snapshot of a snapshot
	e.fill(4, 6, oBlock)

	e.must(e.dev(1).Discard(8*oBlock, 2*oBlock), "discard thin 1")
	e.must(e.dev(1).Discard(0, 4096), "partial discard thin 1") // keeps the block
	e.must(e.dev(2).Discard(31*oBlock, oBlock), "discard thin 2")

	e.msg(dm.CreateThinMsg(5)) // never written
	e.msg(dm.CreateThinMsg(6))
	e.msg(dm.DeleteMsg(6))
	e.msg(dm.SetTransactionIDMsg(1, 2))
	for id, bd := range e.open {
		e.must(bd.Flush(), "flush %d", id)
	}
}

// canonical passes a dump through the XML codec, which sorts and merges.
func canonical(t *testing.T, d *dm.MetadataDump) (*dm.MetadataDump, []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := dm.WriteThinXML(&b, d); err != nil {
		t.Fatalf("WriteThinXML of the engine's dump: %v", err)
	}
	c, err := dm.ReadThinXML(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("ReadThinXML of WriteThinXML: %v", err)
	}
	return c, b.Bytes()
}

func TestOracleExportToThinTools(t *testing.T) {
	dir := t.TempDir()
	sizedFile(t, filepath.Join(dir, "meta"), oMetaBytes)
	sizedFile(t, filepath.Join(dir, "data"), oDataBlocks*oBlock)
	e := newOracleEnv(t, dir)
	e.buildHistory()

	live, err := e.eng.DumpPool("pool", false)
	e.must(err, "DumpPool")
	e.teardown()
	stored, err := emu.DumpMetadata(filepath.Join(dir, "meta"), false)
	e.must(err, "DumpMetadata")
	dump, xmlText := canonical(t, live)
	if s, _ := canonical(t, stored); !reflect.DeepEqual(s, dump) {
		t.Fatalf("DumpMetadata after teardown differs from DumpPool:\n%+v\n%+v", s, dump)
	}

	// The engine's own bookkeeping, checked against what the history did.
	if dump.Transaction != 2 || dump.DataBlockSectors != oBlockSectors || dump.NrDataBlocks != oDataBlocks {
		t.Fatalf("superblock: %+v", dump)
	}
	wantMapped := map[uint32]uint64{1: 11, 2: 4, 3: 13, 4: 13, 5: 0}
	if len(dump.Devices) != len(wantMapped) {
		t.Fatalf("devices: %+v", dump.Devices)
	}
	for id, n := range wantMapped {
		d := dump.Device(id)
		if d == nil || d.MappedBlocks != n {
			t.Fatalf("device %d: %+v, want %d mapped blocks", id, d, n)
		}
	}

	// thin_restore + thin_check: the tools accept the engine's metadata.
	tdir := t.TempDir()
	xmlPath, meta := filepath.Join(tdir, "x.xml"), filepath.Join(tdir, "meta.bin")
	if err := os.WriteFile(xmlPath, xmlText, 0o644); err != nil {
		t.Fatal(err)
	}
	sizedFile(t, meta, oMetaBytes)
	oracleTool(t, "thin_restore", "-i", xmlPath, "-o", meta)
	oracleTool(t, "thin_check", meta)

	// thin_dump gives the same metadata back.
	back, err := dm.ReadThinXML(strings.NewReader(oracleTool(t, "thin_dump", meta)))
	e.must(err, "ReadThinXML(thin_dump)")
	back.UUID = dump.UUID // thin_restore 0.9.0 does not keep the uuid
	if !reflect.DeepEqual(back, dump) {
		t.Fatalf("thin_dump after thin_restore:\n%+v\nengine:\n%+v", back, dump)
	}

	// thin_ls: mapped, exclusive and shared blocks per device.
	gotLs := oracleTool(t, "thin_ls", "--no-headers", "-o", "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS", meta)
	if want := usageTable(dump); normalizeLs(gotLs) != want {
		t.Fatalf("thin_ls:\n%s\ncomputed from the engine's dump:\n%s", gotLs, want)
	}

	// thin_delta for every ordered pair with history between them.
	for _, pair := range [][2]uint32{{1, 3}, {3, 1}, {3, 4}, {1, 4}, {1, 2}, {2, 5}, {4, 4}} {
		out := oracleTool(t, "thin_delta", "--snap1", strconv.Itoa(int(pair[0])), "--snap2", strconv.Itoa(int(pair[1])), meta)
		got, err := parseThinDelta(out)
		e.must(err, "parse thin_delta %v", pair)
		want := delta(dump.Device(pair[0]), dump.Device(pair[1]))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("thin_delta %d %d:\n%s\ntool: %+v\nengine dump: %+v", pair[0], pair[1], out, got, want)
		}
	}
}

// usageTable computes thin_ls's DEV MAPPED EXCLUSIVE SHARED lines: a block
// is exclusive to a device when no other mapping in the pool references
// its data block.
func usageTable(d *dm.MetadataDump) string {
	refs := map[uint64]int{}
	for _, dev := range d.Devices {
		for _, m := range dev.Mappings {
			for i := uint64(0); i < m.Length; i++ {
				refs[m.DataBlock+i]++
			}
		}
	}
	var b strings.Builder
	for _, dev := range d.Devices {
		var excl uint64
		for _, m := range dev.Mappings {
			for i := uint64(0); i < m.Length; i++ {
				if refs[m.DataBlock+i] == 1 {
					excl++
				}
			}
		}
		fmt.Fprintf(&b, "%d %d %d %d\n", dev.ID, dev.MappedBlocks, excl, dev.MappedBlocks-excl)
	}
	return b.String()
}

func normalizeLs(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		b.WriteString(strings.Join(strings.Fields(line), " ") + "\n")
	}
	return b.String()
}

// deltaRun is one element of thin_delta's (non-verbose) diff.
type deltaRun struct {
	Kind          string
	Begin, Length uint64
}

// delta classifies every virtual block of left and right as thin_delta
// does (left_only, right_only, same data block, different data blocks)
// and merges neighbouring blocks of one kind into runs.
func delta(left, right *dm.DeviceDump) []deltaRun {
	lm, rm := blockMap(left), blockMap(right)
	var vbs []uint64
	for vb := range lm {
		vbs = append(vbs, vb)
	}
	for vb := range rm {
		if _, ok := lm[vb]; !ok {
			vbs = append(vbs, vb)
		}
	}
	sortU64(vbs)
	var out []deltaRun
	for _, vb := range vbs {
		l, lok := lm[vb]
		r, rok := rm[vb]
		kind := "same"
		switch {
		case lok && !rok:
			kind = "left_only"
		case rok && !lok:
			kind = "right_only"
		case l != r:
			kind = "different"
		}
		if n := len(out); n > 0 && out[n-1].Kind == kind && out[n-1].Begin+out[n-1].Length == vb {
			out[n-1].Length++
			continue
		}
		out = append(out, deltaRun{Kind: kind, Begin: vb, Length: 1})
	}
	return out
}

func blockMap(d *dm.DeviceDump) map[uint64]uint64 {
	m := map[uint64]uint64{}
	for _, r := range d.Mappings {
		for i := uint64(0); i < r.Length; i++ {
			m[r.OriginBlock+i] = r.DataBlock + i
		}
	}
	return m
}

func sortU64(s []uint64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// parseThinDelta reads thin_delta's non-verbose output.
func parseThinDelta(out string) ([]deltaRun, error) {
	var doc struct {
		Diff struct {
			Items []struct {
				XMLName xml.Name
				Begin   uint64 `xml:"begin,attr"`
				Length  uint64 `xml:"length,attr"`
			} `xml:",any"`
		} `xml:"diff"`
	}
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		return nil, err
	}
	var runs []deltaRun
	for _, it := range doc.Diff.Items {
		runs = append(runs, deltaRun{Kind: it.XMLName.Local, Begin: it.Begin, Length: it.Length})
	}
	return runs, nil
}

// kernelStyleXML is metadata as a kernel pool would leave it: an origin,
// a snapshot sharing most of it with some blocks broken by copy-on-write,
// a snapshot of the snapshot, an unwritten device, a held transaction id.
const kernelStyleXML = `<superblock uuid="" time="2" transaction="9" flags="0" version="2" data_block_size="128" nr_data_blocks="512">
  <device dev_id="1" mapped_blocks="12" transaction="3" creation_time="0" snap_time="2">
    <range_mapping origin_begin="0" data_begin="0" length="8" time="0"/>
    <range_mapping origin_begin="8" data_begin="20" length="2" time="1"/>
    <single_mapping origin_block="40" data_block="30" time="2"/>
    <single_mapping origin_block="63" data_block="31" time="0"/>
  </device>
  <device dev_id="2" mapped_blocks="11" transaction="4" creation_time="1" snap_time="2">
    <range_mapping origin_begin="0" data_begin="0" length="8" time="0"/>
    <single_mapping origin_block="8" data_block="22" time="1"/>
    <single_mapping origin_block="9" data_block="21" time="1"/>
    <single_mapping origin_block="63" data_block="31" time="0"/>
  </device>
  <device dev_id="3" mapped_blocks="11" transaction="5" creation_time="2" snap_time="2">
    <range_mapping origin_begin="0" data_begin="0" length="4" time="0"/>
    <single_mapping origin_block="4" data_block="40" time="2"/>
    <range_mapping origin_begin="5" data_begin="5" length="3" time="0"/>
    <single_mapping origin_block="8" data_block="22" time="1"/>
    <single_mapping origin_block="9" data_block="21" time="1"/>
    <single_mapping origin_block="63" data_block="31" time="0"/>
  </device>
  <device dev_id="7" mapped_blocks="0" transaction="6" creation_time="2" snap_time="2">
  </device>
</superblock>
`

// TestOracleComputationsAgainstThinTools checks this file's own thin_ls
// and thin_delta computations on metadata that never saw the engine, so
// that a disagreement in the tests above points at the engine.
func TestOracleComputationsAgainstThinTools(t *testing.T) {
	tdir := t.TempDir()
	xmlPath, meta := filepath.Join(tdir, "k.xml"), filepath.Join(tdir, "meta.bin")
	if err := os.WriteFile(xmlPath, []byte(kernelStyleXML), 0o644); err != nil {
		t.Fatal(err)
	}
	sizedFile(t, meta, oMetaBytes)
	oracleTool(t, "thin_restore", "-i", xmlPath, "-o", meta)
	dump, err := dm.ReadThinXML(strings.NewReader(kernelStyleXML))
	if err != nil {
		t.Fatal(err)
	}
	gotLs := oracleTool(t, "thin_ls", "--no-headers", "-o", "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS", meta)
	if want := usageTable(dump); normalizeLs(gotLs) != want || want != "1 12 2 10\n2 11 0 11\n3 11 1 10\n7 0 0 0\n" {
		t.Fatalf("thin_ls:\n%s\ncomputed:\n%s", gotLs, want)
	}
	for _, a := range dump.Devices {
		for _, b := range dump.Devices {
			out := oracleTool(t, "thin_delta", "--snap1", strconv.Itoa(int(a.ID)), "--snap2", strconv.Itoa(int(b.ID)), meta)
			got, err := parseThinDelta(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := delta(dump.Device(a.ID), dump.Device(b.ID)); !reflect.DeepEqual(got, want) {
				t.Fatalf("thin_delta %d %d: tool %+v, computed %+v", a.ID, b.ID, got, want)
			}
		}
	}
}

// TestOracleImportFromThinTools: metadata written by the tools loads into
// the engine, which then serves exactly those mappings.
func TestOracleImportFromThinTools(t *testing.T) {
	tdir := t.TempDir()
	xmlPath, meta := filepath.Join(tdir, "k.xml"), filepath.Join(tdir, "meta.bin")
	if err := os.WriteFile(xmlPath, []byte(kernelStyleXML), 0o644); err != nil {
		t.Fatal(err)
	}
	sizedFile(t, meta, oMetaBytes)
	oracleTool(t, "thin_restore", "-i", xmlPath, "-o", meta)
	oracleTool(t, "thin_check", meta)
	dump, err := dm.ReadThinXML(strings.NewReader(oracleTool(t, "thin_dump", meta)))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	sizedFile(t, filepath.Join(dir, "meta"), oMetaBytes)
	if err := emu.RestoreMetadata(filepath.Join(dir, "meta"), dump); err != nil {
		t.Fatalf("RestoreMetadata: %v", err)
	}
	// Every data block starts with its own number, so a read shows which
	// data block backs a virtual block.
	data := make([]byte, oDataBlocks*oBlock)
	for b := 0; b < oDataBlocks; b++ {
		copy(data[b*oBlock:], fmt.Sprintf("data block %d\n", b))
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	e := newOracleEnv(t, dir)
	e.createPool()
	st, err := e.eng.Status(e.ctx, "pool", dm.StatusOptions{})
	e.must(err, "pool status")
	ps, err := dm.ParsePoolStatus(st[0].Params)
	e.must(err, "parse pool status %q", st[0].Params)
	if ps.TransactionID != 9 || ps.UsedDataBlocks != 14 || ps.TotalDataBlocks != oDataBlocks {
		t.Fatalf("pool status after import: %q", st[0].Params)
	}

	buf := make([]byte, oBlock)
	for _, dev := range dump.Devices {
		m := blockMap(&dev)
		bd := e.dev(dev.ID)
		for vb := uint64(0); vb < oThinBlocks; vb++ {
			_, err := bd.ReadAt(buf, int64(vb)*oBlock)
			e.must(err, "read thin %d block %d", dev.ID, vb)
			db, mapped := m[vb]
			want := make([]byte, oBlock)
			if mapped {
				copy(want, data[db*oBlock:(db+1)*oBlock])
			}
			if !bytes.Equal(buf, want) {
				t.Fatalf("thin %d block %d (mapped %v to %d) reads %q...", dev.ID, vb, mapped, db, buf[:16])
			}
		}
		ts, err := e.eng.Status(e.ctx, thinName(dev.ID), dm.StatusOptions{})
		e.must(err, "thin %d status", dev.ID)
		ths, err := dm.ParseThinStatus(ts[0].Params)
		e.must(err, "parse thin status %q", ts[0].Params)
		if ths.MappedSectors != dev.MappedBlocks*oBlockSectors {
			t.Fatalf("thin %d status %q, want %d mapped blocks", dev.ID, ts[0].Params, dev.MappedBlocks)
		}
	}

	live, err := e.eng.DumpPool("pool", false)
	e.must(err, "DumpPool")
	got, _ := canonical(t, live)
	if !reflect.DeepEqual(got, dump) {
		t.Fatalf("engine after import:\n%+v\nthin_dump:\n%+v", got, dump)
	}
}
