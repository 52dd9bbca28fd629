package emu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeRig drives a meta and its store directly, without a pool, so that a
// test can stop a commit at any step and reopen the file as a crash would.
type storeRig struct {
	t    testing.TB
	path string
	s    *store
	m    *meta
	rng  *rand.Rand
}

func newStoreRig(t testing.TB, metaBytes int64) *storeRig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meta")
	mkfile(t, path, metaBytes)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := fileBlocks(f)
	m := newMeta(128, n)
	s, err := formatStore(f, m)
	if err != nil {
		t.Fatal(err)
	}
	m.startLogging()
	m.resizeData(4096)
	r := &storeRig{t: t, path: path, s: s, m: m, rng: rand.New(rand.NewSource(7))}
	r.commit()
	t.Cleanup(func() { r.s.close() })
	return r
}

// change makes one random transaction's worth of changes: devices come and
// go, snapshots share chunks, blocks are mapped and unmapped.
func (r *storeRig) change() {
	m := r.m
	for k := 0; k < 4; k++ {
		id := uint32(r.rng.Intn(24))
		d := m.devs[id]
		switch op := r.rng.Intn(10); {
		case d == nil && op < 7:
			if err := m.createThin(id); err != nil {
				r.t.Fatal(err)
			}
		case d == nil:
			for o := range m.devs {
				if err := m.createSnap(id, o); err != nil {
					r.t.Fatal(err)
				}
				break
			}
		case op == 0:
			if err := m.deleteThin(id); err != nil {
				r.t.Fatal(err)
			}
		case op < 4:
			for vb := range uint64(8) {
				m.removeMapping(d, uint64(r.rng.Intn(512))+vb)
			}
		default:
			for vb := uint64(r.rng.Intn(512)); vb%16 != 15; vb++ {
				b, err := m.alloc()
				if err != nil {
					return
				}
				m.setMapping(d, vb, b, m.time)
			}
		}
	}
	m.txn++
	m.logSetTxn(m.txn)
}

func (r *storeRig) commit() {
	r.t.Helper()
	if err := r.s.commit(r.m); err != nil {
		r.t.Fatal(err)
	}
	r.m.committed()
}

// appendRecord commits m's pending changes and a new transaction id as one
// journal record, never compacting (the benchmarks that fill a journal to a
// given length).
func (r *storeRig) appendRecord() {
	r.t.Helper()
	r.m.txn++
	r.m.logSetTxn(r.m.txn)
	if err := r.s.appendJournal(r.m); err != nil {
		r.t.Fatal(err)
	}
	r.m.committed()
}

// reopen drops the store as a crash would and loads the file again.
func (r *storeRig) reopen() {
	r.t.Helper()
	r.s.close()
	s, m, err := openStore(r.path, false, false)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := m.check(); err != nil {
		r.t.Fatal(err)
	}
	r.s, r.m = s, m
}

// untilEncoded commits changes until a background checkpoint has been
// started and encoded, so that the next commit installs it.
func (r *storeRig) untilEncoded() {
	r.t.Helper()
	for i := 0; r.s.bg == nil; i++ {
		if i > 10000 {
			r.t.Fatal("no background checkpoint after 10000 commits")
		}
		r.change()
		r.commit()
	}
	<-r.s.bg.done
}

var errKilled = errors.New("killed at failpoint")

// TestBackgroundCheckpointKillPoints stops the installing commit after each
// of its durable steps and checks that the file opens to the state of the
// last commit that reached its journal sync, and keeps working from there.
func TestBackgroundCheckpointKillPoints(t *testing.T) {
	cases := []struct {
		step        string
		recordKnown bool // the killed commit's record was synced
	}{
		{"bg-checkpoint-written", false},
		{"bg-journal-synced", true},
		{"bg-superblock-synced", true},
	}
	for _, c := range cases {
		t.Run(c.step, func(t *testing.T) {
			r := newStoreRig(t, 4<<20)
			r.untilEncoded()
			before := encodeState(r.m)
			r.change()
			after := encodeState(r.m)
			r.s.failAt = func(step string) error {
				if step == c.step {
					return errKilled
				}
				return nil
			}
			if err := r.s.commit(r.m); !errors.Is(err, errKilled) {
				t.Fatalf("commit: %v, want the failpoint", err)
			}
			r.reopen()
			want := before
			if c.recordKnown {
				want = after
			}
			if got := encodeState(r.m); !bytes.Equal(got, want) {
				t.Fatal("reopened state is not the last durable commit")
			}
			// The store goes on from there: more compactions, then a clean
			// reopen reproduces the state exactly.
			r.untilEncoded()
			r.change()
			r.commit()
			want = encodeState(r.m)
			r.reopen()
			if got := encodeState(r.m); !bytes.Equal(got, want) {
				t.Fatal("state after further commits differs after reopen")
			}
		})
	}
}

// TestBackgroundCheckpointReplay commits many transactions with background
// compaction, reopening at intervals, and checks the state survives every
// reopen and the journal stays bounded.
func TestBackgroundCheckpointReplay(t *testing.T) {
	r := newStoreRig(t, 4<<20)
	installs := 0
	for i := 0; i < 1500; i++ {
		ckpt := r.s.sb.ckpt
		r.change()
		r.commit()
		if r.s.sb.ckpt != ckpt {
			installs++
		}
		if i%97 == 0 {
			want := encodeState(r.m)
			r.reopen()
			if got := encodeState(r.m); !bytes.Equal(got, want) {
				t.Fatalf("commit %d: state differs after reopen", i)
			}
		}
		if limit := int(r.s.compactAt(uint64(r.s.ckptBytes/blockSize+1))) + 2*200; len(r.s.jBlks) > limit {
			t.Fatalf("commit %d: journal %d blocks, checkpoint %d bytes", i, len(r.s.jBlks), r.s.ckptBytes)
		}
	}
	if installs == 0 {
		t.Fatal("no background checkpoint was installed")
	}
	if err := r.m.check(); err != nil {
		t.Fatal(err)
	}
}

// TestFrozenChunksUnchanged changes the state while a checkpoint is being
// encoded from it: the payload must be the state at the capture (with
// -race, the encoder's reads must not race with the changes).
func TestFrozenChunksUnchanged(t *testing.T) {
	r := newStoreRig(t, 4<<20)
	for r.s.bg == nil {
		r.change()
		r.commit()
	}
	want := encodeState(r.m)
	bg := r.s.bg
	for i := 0; i < 20; i++ {
		r.change()
		if err := r.s.appendJournal(r.m); err != nil {
			t.Fatal(err)
		}
		r.m.committed()
	}
	<-bg.done
	if !bytes.Equal(bg.payload, want) {
		t.Fatal("the background checkpoint saw changes made after its capture")
	}
	if err := r.m.check(); err != nil {
		t.Fatal(err)
	}
}

// setSuperblockVersion rewrites both superblock slots of path as version
// ver (1 has no journal sequence field: it must read as 1).
func setSuperblockVersion(t *testing.T, path string, ver uint32) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for slot := int64(0); slot < 2; slot++ {
		b := make([]byte, blockSize)
		if _, err := f.ReadAt(b, slot*blockSize); err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint32(b[12:], ver)
		if ver == 1 {
			binary.LittleEndian.PutUint64(b[72:], 0)
		}
		binary.LittleEndian.PutUint32(b[8:], crc(b[12:]))
		if _, err := f.WriteAt(b, slot*blockSize); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFormatVersions: a version 1 file (journal from sequence 1) and a
// version 2 file (no held journal prefix) open with their journal replayed;
// a file of a newer version is refused by name.
func TestFormatVersions(t *testing.T) {
	r := newStoreRig(t, 4<<20)
	for i := 0; i < 5; i++ {
		r.change()
		r.commit()
	}
	if r.s.sb.jseq != 1 {
		t.Fatalf("journal starts at %d before any background checkpoint", r.s.sb.jseq)
	}
	want := encodeState(r.m)
	for _, ver := range []uint32{2, 1} { // 1 clears the sequence field 2 reads
		r.s.close()
		setSuperblockVersion(t, r.path, ver)
		r.reopen()
		if got := encodeState(r.m); !bytes.Equal(got, want) {
			t.Fatalf("version %d file: state differs", ver)
		}
	}
	r.change()
	r.commit()
	r.s.close()
	setSuperblockVersion(t, r.path, formatVer+1)
	_, _, err := openStore(r.path, false, false)
	if !errors.Is(err, errBadSuperblock) || !strings.Contains(err.Error(), "newer than this engine") {
		t.Fatalf("newer version: %v", err)
	}
}
