package thinpool

// The oracle for usage, mappings and deltas: thin-provisioning-tools
// (thin_ls, thin_dump, thin_delta) reading the same held metadata root that
// thinraft read. On the kernel they read the pool's live metadata device
// with -m; on the userspace engine they read a thin_restore of the engine's
// export of that root. A missing tool fails the test with the install
// command: this oracle never skips.

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

const oracleBlock = 64 << 10 // pool block size in the oracle tests

func thinTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
				path, err = filepath.Join(dir, name), nil
				break
			}
		}
	}
	if err != nil {
		t.Fatalf("%s not found: apt-get install -y thin-provisioning-tools", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String()
}

// withToolsView runs fn while p holds one fresh metadata root, with d the
// dump thinraft read from it and meta/args what a thin tool needs to read
// the same root: the metadata device and -m on the kernel; on the engine a
// thin_restore of d (metadata_snap cleared: thin_restore 0.9 writes a
// superblock pointing at a snapshot block it never wrote).
func (e *spaceEnv) withToolsView(p *Pool, fn func(d *dm.MetadataDump, meta string, args []string)) {
	e.t.Helper()
	err := p.withMetadata(e.ctx, true, func(d *dm.MetadataDump) error {
		if e.kernel {
			fn(d, p.cfg.MetadataDev, []string{"-m"})
			return nil
		}
		fn(d, e.restore(d), nil)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// restore writes d as thin_dump XML and thin_restores it into a file the
// tools can read.
func (e *spaceEnv) restore(d *dm.MetadataDump) string {
	e.t.Helper()
	c := *d
	c.MetadataSnap = 0
	dir, err := os.MkdirTemp(e.dir, "restore-")
	if err != nil {
		e.t.Fatal(err)
	}
	xmlPath, out := filepath.Join(dir, "metadata.xml"), filepath.Join(dir, "metadata")
	var buf bytes.Buffer
	if err := dm.WriteThinXML(&buf, &c); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(xmlPath, buf.Bytes(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(out, nil, 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Truncate(out, 16<<20); err != nil {
		e.t.Fatal(err)
	}
	thinTool(e.t, "thin_restore", "-i", xmlPath, "-o", out)
	return out
}

// history builds the pool the oracle tests read: writes, a snapshot of an
// active origin, a snapshot of a snapshot, overwrites breaking sharing,
// whole-block and partial discards on origins and snapshots, an empty
// device, and a deleted origin whose snapshot lives on. It returns the
// devices' ids in creation order; the pool is quiescent and flushed.
type history struct {
	e    *spaceEnv
	p    *Pool
	devs map[uint32]dm.BlockDevice
}

func newHistory(e *spaceEnv, p *Pool) *history {
	h := &history{e: e, p: p, devs: map[uint32]dm.BlockDevice{}}
	e.t.Cleanup(func() {
		for _, d := range h.devs {
			d.Close()
		}
	})
	return h
}

func (h *history) create(id uint32, blocks int64) {
	h.e.t.Helper()
	if err := h.p.CreateThin(h.e.ctx, id, uint64(blocks*oracleBlock/dm.SectorSize)); err != nil {
		h.e.t.Fatal(err)
	}
}

func (h *history) snap(id, origin uint32) {
	h.e.t.Helper()
	if err := h.p.Snapshot(h.e.ctx, id, origin); err != nil {
		h.e.t.Fatal(err)
	}
}

func (h *history) dev(id uint32) dm.BlockDevice {
	h.e.t.Helper()
	if d, ok := h.devs[id]; ok {
		return d
	}
	d, err := h.p.OpenThin(h.e.ctx, id)
	if err != nil {
		h.e.t.Fatal(err)
	}
	h.devs[id] = d
	return d
}

// write fills blocks [first, first+n) of id with a pattern naming tag.
func (h *history) write(id uint32, first, n int64, tag byte) {
	h.e.t.Helper()
	d := h.dev(id)
	buf := bytes.Repeat([]byte{tag}, int(n*oracleBlock))
	if _, err := d.WriteAt(buf, first*oracleBlock); err != nil {
		h.e.t.Fatalf("write thin %d blocks %d+%d: %v", id, first, n, err)
	}
	if err := d.Flush(); err != nil {
		h.e.t.Fatal(err)
	}
}

// discard discards bytes [off, off+n) of id.
func (h *history) discard(id uint32, off, n int64) {
	h.e.t.Helper()
	if err := h.dev(id).Discard(off, n); err != nil {
		h.e.t.Fatalf("discard thin %d %d+%d: %v", id, off, n, err)
	}
	if err := h.dev(id).Flush(); err != nil {
		h.e.t.Fatal(err)
	}
}

func (h *history) close(id uint32) {
	h.e.t.Helper()
	if d, ok := h.devs[id]; ok {
		if err := d.Close(); err != nil {
			h.e.t.Fatal(err)
		}
		delete(h.devs, id)
	}
	if err := h.p.DeactivateThin(h.e.ctx, id); err != nil {
		h.e.t.Fatal(err)
	}
}

func (h *history) delete(id uint32) {
	h.e.t.Helper()
	h.close(id)
	if err := h.p.Delete(h.e.ctx, id); err != nil {
		h.e.t.Fatal(err)
	}
}

// build runs the shared history. Volumes are 256 blocks (16 MiB).
func (h *history) build() {
	const vol = 256
	h.create(1, vol)
	h.write(1, 0, 100, 'a')
	h.snap(2, 1) // origin 1 is active: taken with it suspended
	h.write(1, 10, 20, 'b')
	h.write(1, 200, 20, 'c')
	h.snap(3, 2) // a snapshot of a snapshot
	h.write(3, 50, 10, 'd')
	h.write(2, 95, 10, 'e')                            // 95-99 break sharing with 1 and 3, 100-104 new
	h.discard(1, 0, 5*oracleBlock)                     // shared with 2 and 3: unmapped in 1 only
	h.discard(2, 80*oracleBlock, 10*oracleBlock)       // shared with 3
	h.discard(3, 20*oracleBlock+4096, 3*oracleBlock)   // partial: whole blocks 21 and 22 only
	h.discard(1, 210*oracleBlock, 5*oracleBlock+512*3) // exclusive blocks freed
	h.create(4, vol)                                   // never written
	h.create(5, vol)
	h.write(5, 0, 30, 'f')
	h.close(1)
	h.snap(6, 5)
	h.write(5, 0, 5, 'g')
	h.snap(7, 1) // of an inactive origin
	h.delete(5)  // 6 now holds 25 blocks alone
	h.write(7, 240, 3, 'h')
}

// thinLs runs thin_ls on the tools' view and returns its lines as
// "DEV MAPPED EXCLUSIVE SHARED MAPPED_BYTES", sorted by device.
func thinLs(t *testing.T, meta string, args []string) []string {
	t.Helper()
	a := append([]string{"--no-headers", "-o", "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,MAPPED_BYTES"}, args...)
	out := thinTool(t, "thin_ls", append(a, meta)...)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines = append(lines, strings.Join(f, " "))
		}
	}
	sort.Slice(lines, func(i, j int) bool { return devOf(lines[i]) < devOf(lines[j]) })
	return lines
}

func devOf(line string) uint64 {
	n, _ := strconv.ParseUint(strings.Fields(line)[0], 10, 32)
	return n
}

// usageLines renders u like thinLs.
func usageLines(u Usage) []string {
	var lines []string
	for _, v := range u.Volumes {
		lines = append(lines, fmt.Sprintf("%d %d %d %d %d", v.ThinID, v.Mapped, v.Exclusive, v.Shared, v.Mapped*u.BlockSize))
	}
	return lines
}

// thinDelta runs thin_delta on the tools' view and parses its runs.
func thinDelta(t *testing.T, meta string, args []string, a, b uint32) []DeltaRange {
	t.Helper()
	a2 := append(append([]string{}, args...), "--snap1", strconv.Itoa(int(a)), "--snap2", strconv.Itoa(int(b)), meta)
	out := thinTool(t, "thin_delta", a2...)
	var doc struct {
		Diff struct {
			Left  uint32 `xml:"left,attr"`
			Right uint32 `xml:"right,attr"`
			Items []struct {
				XMLName xml.Name
				Begin   uint64 `xml:"begin,attr"`
				Length  uint64 `xml:"length,attr"`
			} `xml:",any"`
		} `xml:"diff"`
	}
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("parse thin_delta %d %d: %v\n%s", a, b, err, out)
	}
	if doc.Diff.Left != a || doc.Diff.Right != b {
		t.Fatalf("thin_delta answered for %d..%d, asked %d..%d:\n%s", doc.Diff.Left, doc.Diff.Right, a, b, out)
	}
	var runs []DeltaRange
	for _, it := range doc.Diff.Items {
		runs = append(runs, DeltaRange{Kind: DeltaKind(it.XMLName.Local), Begin: it.Begin, Length: it.Length})
	}
	return runs
}

// thinDumpDevice runs thin_dump on the tools' view and returns device id.
// A held root's superblock copy has its space map roots zeroed, so thin_dump
// -m says nr_data_blocks="0"; nrData (the pool's) stands in for it.
func thinDumpDevice(t *testing.T, meta string, args []string, id uint32, nrData uint64) *dm.DeviceDump {
	t.Helper()
	out := thinTool(t, "thin_dump", append(append([]string{}, args...), meta)...)
	out = strings.Replace(out, `nr_data_blocks="0"`, fmt.Sprintf(`nr_data_blocks="%d"`, nrData), 1)
	d, err := dm.ReadThinXML(strings.NewReader(out))
	if err != nil {
		t.Fatalf("parse thin_dump: %v", err)
	}
	dev := d.Device(id)
	if dev == nil {
		t.Fatalf("thin_dump has no device %d", id)
	}
	return dev
}

func withoutSame(runs []DeltaRange) []DeltaRange {
	var out []DeltaRange
	for _, r := range runs {
		if r.Kind != DeltaSame {
			out = append(out, r)
		}
	}
	return out
}
