package thinpool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func createIntent(st PoolState, id uint32) Intent {
	return Intent{ID: "i" + string(rune('a'+id%26)) + string(rune('0'+id/26)), Pool: "p", Op: OpCreateThin, ThinID: id, SizeSectors: 2048, FromTxn: st.TxnID}
}

// TestFileRecordReplay: every acknowledged change survives reopening, a
// torn last line is ignored, and the contract's refusals hold.
func TestFileRecordReplay(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rec.json")
	r, err := NewFileRecord(path, "p")
	if err != nil {
		t.Fatal(err)
	}
	for id := uint32(0); id < 5; id++ {
		st, _ := r.Load(ctx)
		in := createIntent(st, id)
		if err := r.Begin(ctx, in); err != nil {
			t.Fatal(err)
		}
		if err := r.Complete(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := r.Load(ctx)
	pending := createIntent(st, 9)
	if err := r.Begin(ctx, pending); err != nil {
		t.Fatal(err)
	}
	if err := r.Begin(ctx, createIntent(st, 10)); !errors.Is(err, ErrIntentConflict) {
		t.Fatalf("second Begin while one is pending: %v, want ErrIntentConflict", err)
	}
	if err := r.SetThinSize(ctx, 3, 4096); err != nil {
		t.Fatal(err)
	}
	r.Close()
	// A crash in the middle of an append leaves a partial line.
	f, err := os.OpenFile(path+".log", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"Seq":99,"Begin":{"ID":"torn"`)
	f.Close()

	r2, err := NewFileRecord(path, "p")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r2.Load(ctx)
	if got.TxnID != 5 || len(got.Thins) != 5 || got.Thins[3].SizeSectors != 4096 {
		t.Fatalf("after reopen: txn %d, %d thins, thin 3 size %d; want 5, 5, 4096", got.TxnID, len(got.Thins), got.Thins[3].SizeSectors)
	}
	if got.Pending == nil || got.Pending.ID != pending.ID {
		t.Fatalf("pending intent lost: %+v", got.Pending)
	}
	// The torn tail was cut: the next change appends cleanly.
	if err := r2.Complete(ctx, pending); err != nil {
		t.Fatal(err)
	}
	r2.Close()
	r3, err := NewFileRecord(path, "p")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := r3.Load(ctx); st.TxnID != 6 || st.Pending != nil {
		t.Fatalf("after the torn tail: txn %d pending %v; want 6, none", st.TxnID, st.Pending)
	}
	r3.Close()
}

// TestFileRecordCompaction: past compactEvery entries the state moves to
// the snapshot; a crash after the snapshot but before the log is truncated
// replays nothing twice.
func TestFileRecordCompaction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rec.json")
	r, err := NewFileRecord(path, "p")
	if err != nil {
		t.Fatal(err)
	}
	var id uint32
	for r.n < compactEvery-2 {
		st, _ := r.Load(ctx)
		in := createIntent(st, id)
		id++
		if err := r.Begin(ctx, in); err != nil {
			t.Fatal(err)
		}
		if err := r.Complete(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	oldLog, err := os.ReadFile(path + ".log")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := r.Load(ctx)
	in := createIntent(st, id)
	if err := r.Begin(ctx, in); err != nil { // the compacting append
		t.Fatal(err)
	}
	if err := r.Complete(ctx, in); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path + ".log"); fi.Size() > 1024 {
		t.Fatalf("log is %d bytes after compaction", fi.Size())
	}
	want, _ := r.Load(ctx)
	r.Close()
	// Simulate the crash window: the snapshot is new but the old log is back.
	if err := os.WriteFile(path+".log", oldLog, 0o600); err != nil {
		t.Fatal(err)
	}
	r2, err := NewFileRecord(path, "p")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r2.Load(ctx)
	r2.Close()
	if got.TxnID != want.TxnID || len(got.Thins) != len(want.Thins) {
		t.Fatalf("replay over a newer snapshot: txn %d with %d thins, want %d with %d", got.TxnID, len(got.Thins), want.TxnID, len(want.Thins))
	}
}
