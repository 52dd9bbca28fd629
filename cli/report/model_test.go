package report

import (
	"time"

	"github.com/thinraft/thinraft/metadata"
)

// The fixed model of the golden tests: two nodes (one down), three pools
// (one quarantined, one on the down node) and volumes in every state the
// attr string distinguishes.
const (
	gib = 1 << 30
	mib = 1 << 20
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func fixtureNodes() []metadata.Node {
	return []metadata.Node{
		{ID: "n1", Name: "node1", Addr: "10.0.0.1:7001", APIAddr: "10.0.0.1:7080", NBDAddr: "10.0.0.1:10809", Voter: true, State: metadata.NodeUp, JoinedAt: t0},
		{ID: "n2", Name: "node2", Addr: "10.0.0.2:7001", APIAddr: "10.0.0.2:7080", Voter: true, State: metadata.NodeDown, JoinedAt: t0},
		{ID: "n3", Name: "node3", Addr: "10.0.0.3:7001", APIAddr: "10.0.0.3:7080", NBDAddr: "10.0.0.3:10809", State: metadata.NodeUp, JoinedAt: t0},
	}
}

func fixtureVGs() []metadata.VG {
	return []metadata.VG{
		{Name: "vg0", UUID: "vg0-uuid", CreatedAt: t0, Tags: []string{"prod"}},
		{Name: "vg1", UUID: "vg1-uuid", CreatedAt: t0},
	}
}

func fixturePools() []metadata.Pool {
	// 64 KiB blocks: 128 sectors.
	return []metadata.Pool{
		{UUID: "p0", VG: "vg0", Name: "pool0", Node: "n1", ChunkSectors: 128, DataBytes: 10 * gib, MetaBytes: 16 * mib,
			Zero: true, Discards: "passdown", TxnID: 7, State: metadata.PoolActive, CreatedAt: t0,
			Usage: metadata.Usage{DataUsed: 44170, DataTotal: 163840, MetaUsed: 508, MetaTotal: 4096, Mode: "rw"}},
		{UUID: "p1", VG: "vg0", Name: "pool1", Node: "n2", ChunkSectors: 128, DataBytes: 20 * gib, MetaBytes: 32 * mib,
			Discards: "passdown", ErrorIfNoSpace: true, TxnID: 2, State: metadata.PoolActive, CreatedAt: t0,
			Usage: metadata.Usage{DataUsed: 0, DataTotal: 327680, MetaUsed: 20, MetaTotal: 8192, Mode: "rw"}},
		{UUID: "p2", VG: "vg1", Name: "pool2", Node: "n1", ChunkSectors: 1024, DataBytes: 2043 * mib, MetaBytes: 4 * mib,
			Zero: true, Discards: "nopassdown", TxnID: 91, State: metadata.PoolQuarantined, CreatedAt: t0,
			Usage: metadata.Usage{DataUsed: 4085, DataTotal: 4086, MetaUsed: 1000, MetaTotal: 1024, Mode: "out_of_data_space"}},
	}
}

func fixtureVolumes() []metadata.Volume {
	return []metadata.Volume{
		// Active and open, with shared blocks (its snapshot shares them).
		{UUID: "v1", VG: "vg0", Name: "thin1", Pool: "p0", ThinID: 1, SizeBytes: 1 << 40, State: metadata.VolumeActive,
			Active: true, Open: true, CreatedAt: t0, Tags: []string{"web", "db"},
			ExclusiveBytes: 1 * gib, SharedBytes: 512 * mib},
		// Its snapshot: activation skipped (lvcreate -s default), inactive.
		{UUID: "v2", VG: "vg0", Name: "thin1s1", Pool: "p0", ThinID: 2, SizeBytes: 1 << 40, Origin: "v1", IsSnapshot: true,
			State: metadata.VolumeActive, ActivationSkip: true, CreatedAt: t0.Add(time.Hour), SharedBytes: 512 * mib},
		// Deactivated (lvchange -an).
		{UUID: "v3", VG: "vg0", Name: "thin2", Pool: "p0", ThinID: 3, SizeBytes: 5 * gib, State: metadata.VolumeActive,
			CreatedAt: t0, ExclusiveBytes: 3 * mib},
		// Read-only, active.
		{UUID: "v4", VG: "vg0", Name: "ro", Pool: "p0", ThinID: 4, SizeBytes: 2043 * mib, State: metadata.VolumeActive,
			Active: true, ReadOnly: true, CreatedAt: t0},
		// Its create was abandoned: no thin device.
		{UUID: "v5", VG: "vg0", Name: "broken", Pool: "p0", SizeBytes: gib, State: metadata.VolumeFailed,
			Active: true, CreatedAt: t0, Reason: "pool out of metadata space"},
		// On the node that is down.
		{UUID: "v6", VG: "vg0", Name: "far", Pool: "p1", ThinID: 1, SizeBytes: 100 * mib, State: metadata.VolumeActive,
			Active: true, CreatedAt: t0},
		// In the quarantined, full pool; still creating.
		{UUID: "v7", VG: "vg1", Name: "newvol", Pool: "p2", ThinID: 9, SizeBytes: 3 * gib, State: metadata.VolumeCreating,
			Active: true, CreatedAt: t0},
	}
}

func fixtureLVRows(hidden bool) []LVRow {
	return BuildLVRows(fixturePools(), fixtureVolumes(), fixtureNodes(), hidden)
}
