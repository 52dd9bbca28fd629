package thinpool

import (
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/dm"
)

// TestUsageMatchesThinLs: after writes, snapshots (of an active origin, of
// a snapshot, of an inactive origin), overwrites, discards and a deleted
// origin, Pool.Usage's per-volume mapped/exclusive/shared equal thin_ls on
// the same held root, its pool total equals the status line, and each
// active volume's mapped count equals its thin status.
func TestUsageMatchesThinLs(t *testing.T) {
	e := newSpaceEnv(t)
	p := e.pool(Config{Name: "usage"}, 8<<20, 64<<20, nil)
	h := newHistory(e, p)
	h.build()

	u, err := p.Usage(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.BlockSize != oracleBlock {
		t.Fatalf("usage block size %d, want %d", u.BlockSize, oracleBlock)
	}
	got := usageLines(u)
	t.Logf("thinraft usage (dev mapped exclusive shared bytes):\n%s", strings.Join(got, "\n"))

	// The tools read the very root thinraft read.
	e.withToolsView(p, func(d *dm.MetadataDump, meta string, args []string) {
		want := thinLs(t, meta, args)
		if held := usageLines(ComputeUsage(d)); !reflect.DeepEqual(held, want) {
			t.Fatalf("usage from the held root:\n%s\nthin_ls on the same root:\n%s", strings.Join(held, "\n"), strings.Join(want, "\n"))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Pool.Usage:\n%s\nthin_ls:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	// The history is not trivial: every kind of block shows up.
	var excl, shared uint64
	for _, v := range u.Volumes {
		excl += v.Exclusive
		shared += v.Shared
		if v.Mapped != v.Exclusive+v.Shared {
			t.Fatalf("volume %d: mapped %d != exclusive %d + shared %d", v.ThinID, v.Mapped, v.Exclusive, v.Shared)
		}
	}
	if len(u.Volumes) != 6 || excl == 0 || shared == 0 {
		t.Fatalf("history too thin to test: %d volumes, %d exclusive, %d shared", len(u.Volumes), excl, shared)
	}

	// Pool totals: distinct mapped blocks are the pool's used data blocks.
	ps, err := p.Status(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.UsedBlocks != ps.UsedDataBlocks || u.Transaction != ps.TransactionID {
		t.Fatalf("usage: %d blocks used at txn %d; status: %d at txn %d", u.UsedBlocks, u.Transaction, ps.UsedDataBlocks, ps.TransactionID)
	}

	// Each active volume's own status agrees on its mapped count.
	for _, v := range u.Volumes {
		if _, ok := h.devs[v.ThinID]; !ok {
			continue
		}
		st, err := p.ctl.Status(e.ctx, p.ThinDMName(v.ThinID), dm.StatusOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ts, err := dm.ParseThinStatus(st[0].Params)
		if err != nil {
			t.Fatal(err)
		}
		if ts.MappedSectors != v.Mapped*u.BlockSize/dm.SectorSize {
			t.Fatalf("thin %d status: %d mapped sectors, usage says %d blocks", v.ThinID, ts.MappedSectors, v.Mapped)
		}
	}
}

// TestComputeUsageKnownDump pins ComputeUsage on a hand-made dump, with
// thin_ls's counting: a block mapped twice by the same device is not
// exclusive (the kernel never does that, but the count is by reference).
func TestComputeUsageKnownDump(t *testing.T) {
	d := &dm.MetadataDump{DataBlockSectors: 128, Transaction: 4, Devices: []dm.DeviceDump{
		{ID: 3, Mappings: []dm.Mapping{{OriginBlock: 0, DataBlock: 0, Length: 4}, {OriginBlock: 9, DataBlock: 20, Length: 1}}},
		{ID: 1, Mappings: []dm.Mapping{{OriginBlock: 0, DataBlock: 2, Length: 4}}},
		{ID: 2},
	}}
	u := ComputeUsage(d)
	want := []VolumeUsage{{ThinID: 1, Mapped: 4, Exclusive: 2, Shared: 2}, {ThinID: 2}, {ThinID: 3, Mapped: 5, Exclusive: 3, Shared: 2}}
	if !reflect.DeepEqual(u.Volumes, want) || u.UsedBlocks != 7 || u.BlockSize != 65536 || u.Transaction != 4 {
		t.Fatalf("usage %+v", u)
	}
}

// naiveUsage counts references block by block: the obvious definition
// ComputeUsage's run sweep must agree with.
func naiveUsage(d *dm.MetadataDump) (used uint64, vols []VolumeUsage) {
	refs := map[uint64]int{}
	for _, dev := range d.Devices {
		for _, m := range dev.Mappings {
			for i := uint64(0); i < m.Length; i++ {
				refs[m.DataBlock+i]++
			}
		}
	}
	for _, dev := range d.Devices {
		v := VolumeUsage{ThinID: dev.ID}
		for _, m := range dev.Mappings {
			for i := uint64(0); i < m.Length; i++ {
				v.Mapped++
				if refs[m.DataBlock+i] == 1 {
					v.Exclusive++
				}
			}
		}
		v.Shared = v.Mapped - v.Exclusive
		vols = append(vols, v)
	}
	sort.Slice(vols, func(i, j int) bool { return vols[i].ThinID < vols[j].ThinID })
	return uint64(len(refs)), vols
}

func TestComputeUsageMatchesBlockCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	for iter := 0; iter < 500; iter++ {
		d := &dm.MetadataDump{DataBlockSectors: 128}
		ndev := 1 + rng.IntN(5)
		span := uint64(1 + rng.IntN(200))
		for id := 0; id < ndev; id++ {
			dev := dm.DeviceDump{ID: uint32(id * 3)}
			var vb uint64
			for r := rng.IntN(6); r > 0; r-- {
				vb += uint64(rng.IntN(10))
				n := uint64(1 + rng.IntN(30))
				dev.Mappings = append(dev.Mappings, dm.Mapping{OriginBlock: vb, DataBlock: uint64(rng.Int64N(int64(span))), Length: n})
				vb += n
			}
			d.Devices = append(d.Devices, dev)
		}
		u := ComputeUsage(d)
		used, vols := naiveUsage(d)
		if u.UsedBlocks != used || !reflect.DeepEqual(u.Volumes, vols) {
			t.Fatalf("dump %+v:\n sweep %d %+v\n naive %d %+v", d.Devices, u.UsedBlocks, u.Volumes, used, vols)
		}
	}
}
