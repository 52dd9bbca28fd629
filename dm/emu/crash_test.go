package emu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

// reopen crashes the engine and activates the pool again on a new one.
func (tp *testPool) crashAndReopen() {
	tp.e.Crash()
	tp.open()
}

func TestCommitSurvivesCrashUncommittedDoesNot(t *testing.T) {
	tp := newTestPool(t, 4<<20, 64, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	tp.msg("set_transaction_id 0 1")
	t0 := tp.thin("t0", 0, 32*testBlock)
	mustWrite(t, t0, 0, fill(testBlock, 'x'))
	if err := t0.Flush(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, t0, 5*testBlock, fill(4096, 'y')) // never flushed
	tp.crashAndReopen()
	t0 = tp.thin("t0", 0, 32*testBlock)
	if got := readBack(t, t0, 0, testBlock); !bytes.Equal(got, fill(testBlock, 'x')) {
		t.Fatal("flushed write lost")
	}
	if got := readBack(t, t0, 5*testBlock, 4096); !bytes.Equal(got, make([]byte, 4096)) {
		t.Fatal("unflushed provisioning survived a crash")
	}
	s := tp.status()
	if s.TransactionID != 1 || s.UsedDataBlocks != 1 {
		t.Fatalf("status after crash: %+v", s)
	}
	tp.checkMeta()
}

// TestJournalCompactionAndReplay runs a pool whose metadata device is LVM's
// minimum, 2 MiB, through commits enough for several compactions.
func TestJournalCompactionAndReplay(t *testing.T) {
	tp := newTestPool(t, 2<<20, 512, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	t0 := tp.thin("t0", 0, 512*testBlock)
	rng := rand.New(rand.NewSource(1))
	want := map[int64]byte{}
	epoch0 := tp.e.pools[tp.meta].st.sb.epoch
	for i := 0; i < 400; i++ {
		blk := rng.Int63n(512)
		v := byte(rng.Intn(250) + 1)
		mustWrite(t, t0, blk*testBlock, fill(512, v))
		want[blk] = v
		if i%3 == 0 {
			if err := t0.Discard(blk*testBlock, testBlock); err != nil {
				t.Fatal(err)
			}
			delete(want, blk)
		}
		if err := t0.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// Compaction in the background keeps the epoch and moves the journal's
	// first sequence number; a foreground one changes the epoch.
	if sb := tp.e.pools[tp.meta].st.sb; sb.epoch == epoch0 && sb.jseq == 1 {
		t.Fatal("400 commits never compacted the journal")
	}
	if s := tp.status(); s.Mode != dm.ModeRW || s.NeedsCheck {
		t.Fatalf("pool status after 400 commits: %+v", s)
	}
	tp.checkMeta()
	tp.crashAndReopen()
	tp.checkMeta()
	t0 = tp.thin("t0", 0, 512*testBlock)
	for blk := int64(0); blk < 512; blk++ {
		got := readBack(t, t0, blk*testBlock, 512)
		if !bytes.Equal(got, fill(512, want[blk])) {
			t.Fatalf("block %d: got %d, want %d", blk, got[0], want[blk])
		}
	}
}

func TestHeldRootSurvivesReactivation(t *testing.T) {
	tp := newTestPool(t, 4<<20, 64, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	t0 := tp.thin("t0", 0, 8*testBlock)
	mustWrite(t, t0, 0, fill(testBlock, 1))
	tp.msg("reserve_metadata_snap")
	mustWrite(t, t0, testBlock, fill(testBlock, 2))
	t0.Close()
	ctx := context.Background()
	tp.e.Remove(ctx, "t0", dm.RemoveOptions{})
	tp.msg("delete 0")
	held := tp.status().HeldRoot
	if err := tp.e.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := DumpMetadata(tp.meta, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Devices) != 1 || d.Devices[0].MappedBlocks != 1 {
		t.Fatalf("held view: %+v", d)
	}
	live, err := DumpMetadata(tp.meta, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(live.Devices) != 0 || live.MetadataSnap != held {
		t.Fatalf("live view: %+v (held %d)", live, held)
	}
	tp.open()
	s := tp.status()
	if !s.HasHeldRoot || s.HeldRoot != held || s.UsedDataBlocks != 1 {
		t.Fatalf("after reactivation: %+v", s)
	}
	tp.checkMeta()
	tp.msg("release_metadata_snap")
	if s := tp.status(); s.HasHeldRoot || s.UsedDataBlocks != 0 {
		t.Fatalf("after release: %+v", s)
	}
}

func TestCorruptionDetected(t *testing.T) {
	tp := newTestPool(t, 4<<20, 64, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	tp.msg("create_thin 1")
	st := tp.e.pools[tp.meta].st
	ckpt := st.sb.ckpt
	jhead := st.sb.jhead
	tp.e.Close()
	// A torn journal record is the end of the journal: the last commit
	// (create_thin 1) is lost, nothing else.
	f, err := os.OpenFile(tp.meta, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteAt([]byte{0xff}, int64(jhead)*blockSize+100)
	d, err := DumpMetadata(tp.meta, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Devices) != 0 && len(d.Devices) != 1 {
		t.Fatalf("after a torn journal head: %d devices", len(d.Devices))
	}
	// A damaged checkpoint is refused.
	f.WriteAt([]byte{0xff, 0xfe}, int64(ckpt)*blockSize+inlineStart+1)
	if _, err := DumpMetadata(tp.meta, false); err == nil {
		t.Fatal("corrupt checkpoint accepted")
	}
	// Both superblocks damaged: not ours.
	f.WriteAt([]byte{1}, 20)
	f.WriteAt([]byte{1}, blockSize+20)
	if _, err := DumpMetadata(tp.meta, false); err == nil {
		t.Fatal("corrupt superblocks accepted")
	}
}

func TestRestoreRoundTrip(t *testing.T) {
	tp := newTestPool(t, 4<<20, 64, dm.PoolFeatures{})
	tp.msg("create_thin 0")
	t0 := tp.thin("t0", 0, 16*testBlock)
	for _, b := range []int64{0, 1, 2, 7} {
		mustWrite(t, t0, b*testBlock, fill(512, byte(b+1)))
	}
	ctx := context.Background()
	tp.e.Suspend(ctx, "t0", dm.SuspendOptions{})
	tp.msg("create_snap 1 0")
	tp.e.Resume(ctx, "t0")
	mustWrite(t, t0, testBlock, fill(512, 9))
	if err := t0.Flush(); err != nil {
		t.Fatal(err)
	}
	d1, err := tp.e.DumpPool("pool", false)
	if err != nil {
		t.Fatal(err)
	}
	tp.e.Close()
	other := filepath.Join(tp.dir, "meta2")
	mkfile(t, other, 4<<20)
	if err := RestoreMetadata(other, d1); err != nil {
		t.Fatal(err)
	}
	d2, err := DumpMetadata(other, false)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(d1) != fmt.Sprint(d2) {
		t.Fatalf("round trip differs:\n%+v\n%+v", d1, d2)
	}
	if len(d1.Devices) != 2 || len(d1.Devices[0].Mappings) != 4 {
		t.Fatalf("dump: %+v", d1)
	}
}

// The real crash test: a child process (this test binary, re-executed)
// writes and flushes to a thin device and reports each flushed write on
// stdout; the parent kills it with SIGKILL at a random moment, reopens the
// pool with a new engine and checks every acknowledged write.

const crashChildEnv = "EMU_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

const crashBlocks = 256

func crashPoolParams(dir string) dm.ThinPoolParams {
	return dm.ThinPoolParams{MetadataDev: filepath.Join(dir, "meta"), DataDev: filepath.Join(dir, "data"),
		DataBlockSectors: testBlockSectors}
}

func crashChild(dir string) {
	e, err := New(Options{Dir: filepath.Join(dir, "eng"), CommitPeriod: 50 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	p := crashPoolParams(dir)
	if _, err := e.Create(ctx, "pool", dm.CreateOptions{Table: dm.Table{p.Target(crashBlocks * testBlockSectors)}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	e.Message(ctx, "pool", 0, "create_thin 0") // EEXIST after the first round
	tbl := dm.Table{dm.ThinParams{PoolDev: "pool", ID: 0}.Target(crashBlocks * testBlockSectors)}
	if _, err := e.Create(ctx, "t0", dm.CreateOptions{Table: tbl}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bd, _ := e.Open(ctx, "t0")
	seed, _ := strconv.ParseInt(os.Getenv("EMU_CRASH_SEED"), 10, 64)
	rng := rand.New(rand.NewSource(seed))
	out := bufio.NewWriter(os.Stdout)
	buf := make([]byte, 8192)
	for i := 0; ; i++ {
		// Sectors of a write carry (seed, offset, sequence) so that the
		// parent can tell which write it reads back.
		off := rng.Int63n(crashBlocks*testBlock/8192) * 8192
		seq := uint64(seed)<<32 | uint64(i)
		for s := 0; s < len(buf); s += 512 {
			binary.LittleEndian.PutUint64(buf[s:], seq)
			binary.LittleEndian.PutUint64(buf[s+8:], uint64(off))
		}
		// Intent is reported before the IO: the parent must know every
		// write that may have reached the disk.
		fmt.Fprintf(out, "wrote %d %d\n", off, seq)
		out.Flush()
		if _, err := bd.WriteAt(buf, off); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			os.Exit(3)
		}
		if i%4 == 0 {
			if rng.Intn(3) == 0 {
				fmt.Fprintf(out, "discard %d\n", off/testBlock*testBlock)
				out.Flush()
				bd.Discard(off/testBlock*testBlock, testBlock)
				continue
			}
			if err := bd.Flush(); err != nil {
				fmt.Fprintln(os.Stderr, "flush:", err)
				os.Exit(3)
			}
			fmt.Fprintf(out, "flushed %d %d\n", off, seq)
			out.Flush()
		}
	}
}

func TestKillCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	mkfile(t, filepath.Join(dir, "meta"), 4<<20)
	mkfile(t, filepath.Join(dir, "data"), crashBlocks*testBlock)
	// want: for every 512-byte sector, the sequence numbers it may hold.
	// After a flush acknowledges a write, the sector holds that write or a
	// later (possibly unflushed) one, or zeros if a later discard hit it.
	// The contract is per sector, not per write: an unflushed 8 KiB write
	// may survive in part, since SIGKILL can end a pwrite between pages
	// (the kernel checks for a fatal signal after each page it copies), as
	// a power cut can tear it on a real disk.
	type sector struct {
		flushed uint64
		later   map[uint64]bool
		zeroOK  bool
	}
	sectors := map[int64]*sector{}
	get := func(off int64) *sector {
		s := sectors[off]
		if s == nil {
			s = &sector{later: map[uint64]bool{}, zeroOK: true}
			sectors[off] = s
		}
		return s
	}
	slots := map[int64]bool{} // 8 KiB slots ever written
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for round := 1; round <= 6; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "EMU_CRASH_SEED="+strconv.Itoa(round))
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		deadline := time.After(time.Duration(300+rng.Intn(700)) * time.Millisecond)
		var pending []string
	collect:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break collect
				}
				pending = append(pending, l)
			case <-deadline:
				cmd.Process.Kill()
				for l := range lines {
					pending = append(pending, l)
				}
				break collect
			}
		}
		cmd.Wait()
		if strings.Contains(stderr.String(), "write:") || strings.Contains(stderr.String(), "flush:") {
			t.Fatalf("child failed: %s", stderr.String())
		}
		for _, l := range pending {
			f := strings.Fields(l)
			off, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "discard":
				for o := off; o < off+testBlock; o += 512 {
					get(o).zeroOK = true
				}
			case "wrote":
				seq, _ := strconv.ParseUint(f[2], 10, 64)
				slots[off] = true
				for o := off; o < off+8192; o += 512 {
					get(o).later[seq] = true
				}
			case "flushed":
				// The flush also made earlier discards durable, but a
				// discard before this write cannot zero it.
				seq, _ := strconv.ParseUint(f[2], 10, 64)
				for o := off; o < off+8192; o += 512 {
					s := get(o)
					s.flushed, s.later, s.zeroOK = seq, map[uint64]bool{}, false
				}
			}
		}
		// Reopen in this process and verify.
		e, err := New(Options{Dir: filepath.Join(dir, "eng")})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		p := crashPoolParams(dir)
		if _, err := e.Create(ctx, "pool", dm.CreateOptions{Table: dm.Table{p.Target(crashBlocks * testBlockSectors)}}); err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		e.mu.Lock()
		for _, pl := range e.pools {
			if err := pl.md.check(); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		e.mu.Unlock()
		tbl := dm.Table{dm.ThinParams{PoolDev: "pool", ID: 0}.Target(crashBlocks * testBlockSectors)}
		e.Create(ctx, "t0", dm.CreateOptions{Table: tbl})
		bd, err := e.Open(ctx, "t0")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8192)
		zero := make([]byte, 512)
		checked := 0
		for off := range slots {
			if _, err := bd.ReadAt(buf, off); err != nil {
				t.Fatal(err)
			}
			for i := int64(0); i < 8192; i += 512 {
				s, sec := get(off+i), buf[i:i+512]
				seq := binary.LittleEndian.Uint64(sec)
				switch {
				case bytes.Equal(sec, zero):
					if !s.zeroOK && s.flushed != 0 {
						t.Fatalf("round %d: flushed write %x at %d lost", round, s.flushed, off+i)
					}
				case seq == s.flushed || s.later[seq]:
					if binary.LittleEndian.Uint64(sec[8:]) != uint64(off) || !bytes.Equal(sec[16:], zero[16:]) {
						t.Fatalf("round %d: sector %d holds foreign or torn data", round, off+i)
					}
				default:
					t.Fatalf("round %d: sector %d holds %x, flushed %x", round, off+i, seq, s.flushed)
				}
				// What survived is the new baseline.
				s.later = map[uint64]bool{}
				if bytes.Equal(sec, zero) {
					s.flushed, s.zeroOK = 0, true
				} else {
					s.flushed, s.zeroOK = seq, false
				}
				checked++
			}
		}
		bd.Close()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d lines, %d sectors verified", round, len(pending), checked)
	}
}
