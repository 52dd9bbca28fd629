package nbd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/thinpool"
)

const (
	clientVolSize = 32 << 20
	poolBlock     = 64 << 10
	installCmd    = "apt-get install -y --no-install-recommends qemu-utils libnbd-bin"
)

// requireClients fails (not skips: the must-show depends on them) when a
// Debian NBD client is missing, naming the install command.
func requireClients(t *testing.T) {
	t.Helper()
	var missing []string
	for _, c := range []string{"qemu-io", "qemu-img", "nbdinfo", "nbdcopy"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("NBD clients missing: %s; install them with: %s (or make deps)", strings.Join(missing, ", "), installCmd)
	}
}

// run runs a client with a deadline and returns its combined output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// model is what the test expects the volume to hold and which pool blocks
// it expects mapped.
type model struct {
	data   []byte
	mapped map[int64]bool
}

func newModel(size int64) *model { return &model{data: make([]byte, size), mapped: map[int64]bool{}} }

func (m *model) write(off int64, p []byte) {
	copy(m.data[off:], p)
	for b := off / poolBlock; b*poolBlock < off+int64(len(p)); b++ {
		m.mapped[b] = true
	}
}

func (m *model) fill(off, n int64, v byte) { m.write(off, bytes.Repeat([]byte{v}, int(n))) }

// discard unmaps the whole blocks inside [off, off+n) (zeros there).
func (m *model) discard(off, n int64) {
	for b := (off + poolBlock - 1) / poolBlock; (b+1)*poolBlock <= off+n; b++ {
		delete(m.mapped, b)
		clear(m.data[b*poolBlock : (b+1)*poolBlock])
	}
}

// zeroUnmap is WRITE_ZEROES that may punch holes: whole blocks unmapped,
// the partial rest written with zeros.
func (m *model) zeroUnmap(off, n int64) {
	bs := (off + poolBlock - 1) / poolBlock * poolBlock
	be := (off + n) / poolBlock * poolBlock
	if be <= bs {
		m.fill(off, n, 0)
		return
	}
	m.fill(off, bs-off, 0)
	m.discard(bs, be-bs)
	m.fill(be, off+n-be, 0)
}

// ranges returns the expected mapped block runs in bytes.
func (m *model) ranges() [][2]int64 {
	var blocks []int64
	for b := range m.mapped {
		blocks = append(blocks, b)
	}
	slices.Sort(blocks)
	var out [][2]int64
	for _, b := range blocks {
		if n := len(out); n > 0 && out[n-1][1] == b*poolBlock {
			out[n-1][1] += poolBlock
			continue
		}
		out = append(out, [2]int64{b * poolBlock, (b + 1) * poolBlock})
	}
	return out
}

func poolRanges(t *testing.T, p *thinpool.Pool, id uint32) [][2]int64 {
	t.Helper()
	rs, err := p.Mappings(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]int64
	for _, r := range rs {
		out = append(out, [2]int64{int64(r.Begin) * poolBlock, int64(r.Begin+r.Length) * poolBlock})
	}
	return out
}

// readVolume reads thin id through a second open of its device.
func readVolume(t *testing.T, p *thinpool.Pool, id uint32) []byte {
	t.Helper()
	dev, err := p.OpenThin(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	buf := make([]byte, dev.Size())
	if _, err := dev.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	return buf
}

func firstDiff(a, b []byte) string {
	if len(a) != len(b) {
		return fmt.Sprintf("lengths %d and %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at byte %d: %#x, want %#x", i, a[i], b[i])
		}
	}
	return "equal"
}

// TestNBDClients serves a thin volume to the Debian NBD clients and checks
// what they do against the volume itself and the pool's metadata: qemu-io
// writes and reads patterns (aligned, unaligned, FUA, write-zeroes with and
// without unmap, discard), qemu-img map and nbdinfo --map report exactly
// the volume's mapped blocks as data, and nbdcopy copies the volume to a
// file and back into a fresh volume byte for byte, skipping holes.
func TestNBDClients(t *testing.T) {
	requireClients(t)
	ctx := context.Background()
	tp := newTestPool(t, 256<<20, dm.DiscardPassdown)
	p := tp.pool
	if err := p.CreateThin(ctx, 1, clientVolSize/dm.SectorSize); err != nil {
		t.Fatal(err)
	}
	m := newModel(clientVolSize)
	// Data written before the export exists: BLOCK_STATUS must know it
	// from the pool's metadata.
	{
		dev, err := p.OpenThin(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		pre := bytes.Repeat([]byte{0x11}, 192<<10)
		if _, err := dev.WriteAt(pre, 4<<20); err != nil {
			t.Fatal(err)
		}
		m.write(4<<20, pre)
		dev.Close()
	}
	exp, err := ThinExport(ctx, p, 1, "vol1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exp.Close() })
	_, sock := serve(t, exp, Options{})
	uri := UnixURI(sock, "")       // the default export
	named := UnixURI(sock, "vol1") // the same export by name

	check := func(t *testing.T, what string) {
		t.Helper()
		if got := readVolume(t, p, 1); !bytes.Equal(got, m.data) {
			t.Fatalf("%s: volume content differs from the model: %s", what, firstDiff(got, m.data))
		}
		if got, want := poolRanges(t, p, 1), m.ranges(); !slices.Equal(got, want) {
			t.Fatalf("%s: pool mappings %v, want %v", what, got, want)
		}
	}

	t.Run("qemu-io", func(t *testing.T) {
		cmds := []string{
			"write -P 0xab 0 1M", "read -P 0xab 0 1M",
			// Unaligned: read-modify-write of the edge sectors.
			"write -P 0xcd 1000 3000", "read -P 0xab 0 1000", "read -P 0xcd 1000 3000", "read -P 0xab 4000 1044576",
			"write -P 0xce 70000 1", "read -P 0xce 70000 1",
			"write -f -P 0xef 2M 64k", // FUA
			"write -z 8M 1M",          // NO_HOLE: zeros, allocated
			"write -P 0x22 12M 256k", "write -z -u 12M 200k", "read -P 0 12M 200k", "read -P 0x22 12787712 57344",
			"write -P 0x33 16M 128k", "discard 16M 64k", "read -P 0 16M 64k", "read -P 0x33 16842752 64k",
			"write -P 0x44 20000000 5", "discard 19999744 65536",
			"flush",
		}
		args := []string{"-f", "raw"}
		for _, c := range cmds {
			args = append(args, "-c", c)
		}
		out := run(t, "qemu-io", append(args, uri)...)
		if strings.Contains(out, "failed") || strings.Contains(out, "error") {
			t.Fatalf("qemu-io reported a failure:\n%s", out)
		}
		m.fill(0, 1<<20, 0xab)
		m.fill(1000, 3000, 0xcd)
		m.fill(70000, 1, 0xce)
		m.fill(2<<20, 64<<10, 0xef)
		m.fill(8<<20, 1<<20, 0)
		m.fill(12<<20, 256<<10, 0x22)
		m.zeroUnmap(12<<20, 200<<10)
		m.fill(16<<20, 128<<10, 0x33)
		m.discard(16<<20, 64<<10)
		m.fill(20000000, 5, 0x44)
		m.discard(19999744, 65536) // covers no whole block: nothing unmapped
		check(t, "after qemu-io")
		var tracked [][2]int64
		for _, s := range exp.Alloc.(*Tracker).Mapped() {
			tracked = append(tracked, [2]int64{int64(s.Begin) * poolBlock, int64(s.Begin+s.Length) * poolBlock})
		}
		if want := m.ranges(); !slices.Equal(tracked, want) {
			t.Fatalf("tracker %v, want %v", tracked, want)
		}
		// By name, and a read that crosses mapped and unmapped blocks.
		run(t, "qemu-io", "-f", "raw", "-c", "read -P 0xab 0 1000", "-c", "read -P 0x11 4M 512", named)
	})

	t.Run("qemu-img-map", func(t *testing.T) {
		out := run(t, "qemu-img", "map", "--output=json", "-f", "raw", uri)
		var entries []struct {
			Start, Length int64
			Data, Zero    bool
		}
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			t.Fatalf("qemu-img map output: %v\n%s", err, out)
		}
		var data [][2]int64
		var end int64
		for _, e := range entries {
			if e.Start != end {
				t.Fatalf("qemu-img map: gap before %d\n%s", e.Start, out)
			}
			end = e.Start + e.Length
			if !e.Data && !e.Zero {
				t.Fatalf("qemu-img map: hole at %d not reported as zero\n%s", e.Start, out)
			}
			if e.Data {
				if n := len(data); n > 0 && data[n-1][1] == e.Start {
					data[n-1][1] = end
				} else {
					data = append(data, [2]int64{e.Start, end})
				}
			}
		}
		if end != clientVolSize {
			t.Fatalf("qemu-img map covers %d bytes, want %d", end, clientVolSize)
		}
		if want := poolRanges(t, p, 1); !slices.Equal(data, want) {
			t.Fatalf("qemu-img map data ranges %v, pool mappings %v\n%s", data, want, out)
		}
	})

	t.Run("nbdinfo", func(t *testing.T) {
		out := run(t, "nbdinfo", "--map", uri)
		var data [][2]int64
		var end int64
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 {
				t.Fatalf("nbdinfo --map line %q", line)
			}
			off, err1 := strconv.ParseInt(f[0], 10, 64)
			n, err2 := strconv.ParseInt(f[1], 10, 64)
			typ, err3 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil || err3 != nil || off != end {
				t.Fatalf("nbdinfo --map line %q (expected offset %d)", line, end)
			}
			end = off + n
			switch typ {
			case 0:
				data = append(data, [2]int64{off, end})
			case 3: // hole,zero
			default:
				t.Fatalf("nbdinfo --map: unexpected type %d in %q", typ, line)
			}
		}
		if want := poolRanges(t, p, 1); end != clientVolSize || !slices.Equal(data, want) {
			t.Fatalf("nbdinfo --map data %v (to %d), pool mappings %v\n%s", data, end, want, out)
		}
		info := run(t, "nbdinfo", "--json", named)
		var js struct {
			Exports []struct {
				Size     int64    `json:"export-size"`
				Contexts []string `json:"contexts"`
				CanTrim  bool     `json:"can_trim"`
				CanZero  bool     `json:"can_zero"`
				CanFlush bool     `json:"can_flush"`
				CanFUA   bool     `json:"can_fua"`
				CanMulti bool     `json:"can_multi_conn"`
				ReadOnly bool     `json:"is_read_only"`
				Block    int64    `json:"block_size_minimum"`
			} `json:"exports"`
		}
		if err := json.Unmarshal([]byte(info), &js); err != nil || len(js.Exports) != 1 {
			t.Fatalf("nbdinfo --json: %v\n%s", err, info)
		}
		e := js.Exports[0]
		if e.Size != clientVolSize || !e.CanTrim || !e.CanZero || !e.CanFlush || !e.CanFUA || !e.CanMulti || e.ReadOnly ||
			!slices.Contains(e.Contexts, "base:allocation") || e.Block != 1 {
			t.Fatalf("nbdinfo --json: %+v\n%s", e, info)
		}
	})

	t.Run("nbdcopy", func(t *testing.T) {
		dir := t.TempDir()
		img := filepath.Join(dir, "vol1.raw")
		run(t, "nbdcopy", uri, img)
		got, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, m.data) {
			t.Fatalf("nbdcopy to a file: %s", firstDiff(got, m.data))
		}
		// And back, into a fresh volume on a second server.
		if err := p.CreateThin(ctx, 2, clientVolSize/dm.SectorSize); err != nil {
			t.Fatal(err)
		}
		exp2, err := ThinExport(ctx, p, 2, "vol2")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { exp2.Close() })
		_, sock2 := serve(t, exp2, Options{})
		run(t, "nbdcopy", img, UnixURI(sock2, "vol2"))
		if back := readVolume(t, p, 2); !bytes.Equal(back, m.data) {
			t.Fatalf("nbdcopy back into a volume: %s", firstDiff(back, m.data))
		}
		// Sparse: every block with data is mapped in the copy, and the copy
		// maps no block the original does not.
		mapped2 := map[int64]bool{}
		for _, r := range poolRanges(t, p, 2) {
			for o := r[0]; o < r[1]; o += poolBlock {
				mapped2[o/poolBlock] = true
			}
		}
		for b := int64(0); b < clientVolSize/poolBlock; b++ {
			nonzero := slices.ContainsFunc(m.data[b*poolBlock:(b+1)*poolBlock], func(c byte) bool { return c != 0 })
			if nonzero && !mapped2[b] {
				t.Fatalf("block %d has data but is not mapped in the copy", b)
			}
			if mapped2[b] && !m.mapped[b] {
				t.Fatalf("block %d is mapped in the copy but a hole in the original", b)
			}
		}
		t.Logf("original maps %d blocks, the copy %d", len(m.mapped), len(mapped2))
	})
}
