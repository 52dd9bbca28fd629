package agent

import (
	"testing"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// TestPoolState: thinpool's view of a pool in the middle of a revert and
// a create. Thin ids whose creation is queued are not in the kernel yet;
// an id with a queued delete still is; the queue keeps its order and
// transaction ids; sizes become sectors.
func TestPoolState(t *testing.T) {
	p := metadata.Pool{UUID: "p", TxnID: 7, State: metadata.PoolActive}
	vols := []metadata.VolumeBrief{
		{UUID: "v1", ThinID: 0, SizeBytes: 1 << 20}, // no device
		{UUID: "v2", ThinID: 1, SizeBytes: 1 << 20}, // old device, delete queued
		{UUID: "v3", ThinID: 2, SizeBytes: 2 << 20}, // the snapshot reverted to
		{UUID: "v4", ThinID: 4, SizeBytes: 4 << 20}, // create queued
	}
	queue := []metadata.Intent{
		{ID: "10-0", Pool: "p", Op: metadata.OpDelete, Volume: "v2", ThinID: 1, FromTxn: 7, Revert: true},
		{ID: "10-1", Pool: "p", Op: metadata.OpCreateSnap, Volume: "v2", ThinID: 3, Origin: 2, SizeBytes: 2 << 20, FromTxn: 8, Revert: true},
		{ID: "11-0", Pool: "p", Op: metadata.OpCreateThin, Volume: "v4", ThinID: 4, SizeBytes: 4 << 20, FromTxn: 9},
	}
	st := poolState(p, vols, queue)
	if st.TxnID != 7 || len(st.Thins) != 2 || st.Thins[1].SizeSectors != 2048 || st.Thins[2].SizeSectors != 4096 {
		t.Fatalf("thins %+v txn %d", st.Thins, st.TxnID)
	}
	if len(st.Queue) != 3 || st.Pending == nil || st.Pending.ID != "10-0" {
		t.Fatalf("queue %+v", st.Queue)
	}
	want := []thinpool.Intent{
		{ID: "10-0", Pool: "p", Op: thinpool.OpDelete, ThinID: 1, FromTxn: 7},
		{ID: "10-1", Pool: "p", Op: thinpool.OpSnapshot, ThinID: 3, Origin: 2, SizeSectors: 4096, FromTxn: 8},
		{ID: "11-0", Pool: "p", Op: thinpool.OpCreateThin, ThinID: 4, SizeSectors: 8192, FromTxn: 9},
	}
	for i := range want {
		if st.Queue[i] != want[i] {
			t.Fatalf("queue[%d] = %+v, want %+v", i, st.Queue[i], want[i])
		}
	}
	if len(st.Quarantined) != 0 {
		t.Fatal("an active pool has no quarantine findings")
	}
	p.State, p.Findings = metadata.PoolQuarantined, []metadata.Finding{{Kind: "unknown_thin_id", ThinID: 9}}
	if st := poolState(p, nil, nil); len(st.Quarantined) != 1 || st.Quarantined[0].ThinID != 9 || st.Pending != nil {
		t.Fatalf("quarantined %+v", st)
	}
}

func TestPoolConfig(t *testing.T) {
	p := metadata.Pool{UUID: "0f0e0d0c-0b0a-4908-8706-050403020100", ChunkSectors: 256, Discards: "nopassdown", Zero: true}
	cfg, err := poolConfig(p, "m", "d", thinpool.Config{Reserve: thinpool.ReservePolicy{DataPercent: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != p.UUID || cfg.ChunkSectors != 256 || cfg.Discards != dm.DiscardNoPassdown || cfg.SkipZeroing ||
		cfg.MetadataDev != "m" || cfg.DataDev != "d" || cfg.Reserve.DataPercent != 5 {
		t.Fatalf("config %+v", cfg)
	}
	for word, mode := range map[string]dm.DiscardMode{"": dm.DiscardPassdown, "passdown": dm.DiscardPassdown, "ignore": dm.DiscardIgnore} {
		if m, err := discardMode(word); err != nil || m != mode {
			t.Fatalf("%q -> %q, %v", word, m, err)
		}
	}
	if _, err := discardMode("sometimes"); err == nil {
		t.Fatal("an unknown discard word was accepted")
	}
	p.UUID = string(make([]byte, 120))
	if _, err := poolConfig(p, "m", "d", thinpool.Config{}); err == nil {
		t.Fatal("a pool whose dm names exceed 127 bytes was accepted")
	}
}
