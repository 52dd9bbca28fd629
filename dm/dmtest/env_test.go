package dmtest

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/thinraft/thinraft/dm"
)

var engine = EngineFlag("dmtest.engine")

// TestEnvRestartKeepsCommittedPool: a pool's committed messages survive
// Restart on either engine, and the Env's backing devices work across it.
func TestEnvRestartKeepsCommittedPool(t *testing.T) {
	ctx := context.Background()
	e := ForTest(t, *engine)
	meta, err := e.CreateBacking("meta", 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	data, err := e.CreateBacking("data", 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	pool := dm.ThinPoolParams{MetadataDev: meta.Ref, DataDev: data.Ref, DataBlockSectors: 128, LowWaterMark: 1}
	table := dm.Table{pool.Target(16 << 20 / dm.SectorSize)}
	if _, err := e.Control().Create(ctx, "dmtest-pool", dm.CreateOptions{Table: table}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Control().Remove(ctx, "dmtest-pool", dm.RemoveOptions{Retries: 5}) })
	for _, m := range []string{dm.CreateThinMsg(0), dm.SetTransactionIDMsg(0, 1)} {
		if _, err := e.Control().Message(ctx, "dmtest-pool", 0, m); err != nil {
			t.Fatal(err)
		}
	}
	ctl, err := e.Restart()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Info(ctx, "dmtest-pool"); err != nil {
		// The engine lost its devices with the process: recreate.
		if _, err := ctl.Create(ctx, "dmtest-pool", dm.CreateOptions{Table: table}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := ctl.Status(ctx, "dmtest-pool", dm.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := dm.ParsePoolStatus(st[0].Params)
	if err != nil {
		t.Fatal(err)
	}
	if ps.TransactionID != 1 {
		t.Fatalf("transaction id %d after restart, want 1", ps.TransactionID)
	}
	if _, err := ctl.Message(ctx, "dmtest-pool", 0, dm.CreateThinMsg(0)); !errIs(err, dm.ErrThinIDExists) {
		t.Fatalf("create_thin 0 after restart: %v, want EEXIST", err)
	}
	if err := e.GrowBacking(data, 32<<20); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(data.Path); err != nil || fi.Size() != 32<<20 {
		t.Fatalf("grow: %v %v", fi, err)
	}
	if err := ctl.Remove(ctx, "dmtest-pool", dm.RemoveOptions{Retries: 5}); err != nil {
		t.Fatal(err)
	}
	if err := e.CheckMetadata(ctx, meta); err != nil {
		t.Fatal(err)
	}
}

func TestCheckEngine(t *testing.T) {
	if CheckEngine("x.engine", "emu") != nil || CheckEngine("x.engine", "kernel") != nil {
		t.Fatal("valid engine refused")
	}
	if err := CheckEngine("x.engine", "qemu"); err == nil {
		t.Fatal("invalid engine accepted")
	}
}

func errIs(err, kind error) bool { return errors.Is(err, kind) }
