package thinpool

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

// deltaPairs are the (older, newer) device pairs the delta tests compare:
// successive snapshots of one origin, a snapshot against its live origin,
// a snapshot of a snapshot, reversed order, unrelated devices, an empty
// device and a device against itself.
var deltaPairs = [][2]uint32{{2, 3}, {3, 7}, {2, 7}, {7, 2}, {2, 1}, {1, 2}, {3, 2}, {6, 7}, {4, 1}, {1, 4}, {7, 7}}

// TestDeltaMatchesThinDelta: Pool.Mappings equals thin_dump's mappings and
// Pool.Delta equals thin_delta (changed/added/removed runs) for the same
// devices in the same held root.
func TestDeltaMatchesThinDelta(t *testing.T) {
	e := newSpaceEnv(t)
	p := e.pool(Config{Name: "delta"}, 8<<20, 64<<20, nil)
	h := newHistory(e, p)
	h.build()
	ids := []uint32{1, 2, 3, 4, 6, 7}

	// Answers through the public API first (each a shared or fresh root),
	// then the tools on one held root: the pool is quiescent, so both see
	// the same metadata.
	gotMaps := map[uint32][]Range{}
	for _, id := range ids {
		m, err := p.Mappings(e.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		gotMaps[id] = m
	}
	gotDelta := map[[2]uint32][]DeltaRange{}
	for _, pr := range deltaPairs {
		d, err := p.Delta(e.ctx, pr[0], pr[1])
		if err != nil {
			t.Fatal(err)
		}
		gotDelta[pr] = d
	}
	var kinds = map[DeltaKind]int{}
	e.withToolsView(p, func(d *dm.MetadataDump, meta string, args []string) {
		for _, id := range ids {
			tool := thinDumpDevice(t, meta, args, id, d.NrDataBlocks)
			held := d.Device(id)
			if held == nil || !reflect.DeepEqual(held.Mappings, tool.Mappings) {
				t.Fatalf("thin %d: mappings from the held root %+v, thin_dump %+v", id, held, tool.Mappings)
			}
			if want := MappedRanges(tool); !reflect.DeepEqual(gotMaps[id], want) {
				t.Fatalf("thin %d: Pool.Mappings %v, thin_dump %v", id, gotMaps[id], want)
			}
		}
		for _, pr := range deltaPairs {
			tool := thinDelta(t, meta, args, pr[0], pr[1])
			full, err := ComputeDelta(d, pr[0], pr[1], true)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(full, tool) {
				t.Fatalf("delta %d..%d with same runs:\n thinraft %v\n thin_delta %v", pr[0], pr[1], full, tool)
			}
			if want := withoutSame(tool); !reflect.DeepEqual(gotDelta[pr], want) {
				t.Fatalf("Pool.Delta(%d, %d) = %v, thin_delta %v", pr[0], pr[1], gotDelta[pr], want)
			}
			for _, r := range tool {
				kinds[r.Kind]++
			}
		}
	})
	// Every kind of run occurred, so the comparison covered all of them.
	for _, k := range []DeltaKind{DeltaSame, DeltaDifferent, DeltaLeftOnly, DeltaRightOnly} {
		if kinds[k] == 0 {
			t.Fatalf("no %s run in any pair: the history does not exercise it (%v)", k, kinds)
		}
	}
	t.Logf("runs compared by kind: %v", kinds)
	if d := gotDelta[[2]uint32{7, 7}]; len(d) != 0 {
		t.Fatalf("a device against itself: %v", d)
	}
	if _, err := p.Delta(e.ctx, 2, 99); err == nil {
		t.Fatal("delta against a thin id the pool does not have succeeded")
	}
}

// TestComputeDeltaKnownRuns pins ComputeDelta's run splitting and merging
// on hand-made mappings: runs that start and end inside each other, a data
// discontinuity inside a virtual run, and adjacent runs of one kind.
func TestComputeDeltaKnownRuns(t *testing.T) {
	d := &dm.MetadataDump{DataBlockSectors: 128, Devices: []dm.DeviceDump{
		{ID: 1, Mappings: []dm.Mapping{{OriginBlock: 0, DataBlock: 100, Length: 10}, {OriginBlock: 20, DataBlock: 50, Length: 5}}},
		{ID: 2, Mappings: []dm.Mapping{
			{OriginBlock: 0, DataBlock: 100, Length: 3}, {OriginBlock: 3, DataBlock: 7, Length: 2},
			{OriginBlock: 5, DataBlock: 105, Length: 2}, {OriginBlock: 12, DataBlock: 9, Length: 9}, {OriginBlock: 21, DataBlock: 51, Length: 1}}},
	}}
	got, err := ComputeDelta(d, 1, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []DeltaRange{{DeltaSame, 0, 3}, {DeltaDifferent, 3, 2}, {DeltaSame, 5, 2}, {DeltaLeftOnly, 7, 3},
		{DeltaRightOnly, 12, 8}, {DeltaDifferent, 20, 1}, {DeltaSame, 21, 1}, {DeltaLeftOnly, 22, 3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("delta\n got %v\nwant %v", got, want)
	}
	if got := MappedRanges(d.Device(2)); !reflect.DeepEqual(got, []Range{{0, 7}, {12, 10}}) {
		t.Fatalf("mapped ranges %v", got)
	}
}

// rootCounter wraps a pool's dm.Control and watches its held metadata root:
// how many are held at once, how many were reserved, and any reserve the
// kernel refused as busy.
type rootCounter struct {
	dm.Control
	reader dm.MetadataReader
	// slow widens the window in which readers overlap.
	slow time.Duration

	mu                   sync.Mutex
	held, maxHeld        int
	reserves, busy, dump int
}

func (c *rootCounter) Message(ctx context.Context, name string, sector uint64, msg string) (string, error) {
	out, err := c.Control.Message(ctx, name, sector, msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch msg {
	case dm.MsgReserveMetadataSnap:
		switch {
		case err == nil:
			c.reserves++
			c.held++
			c.maxHeld = max(c.maxHeld, c.held)
		case errors.Is(err, dm.ErrMetadataSnapHeld):
			c.busy++
		}
	case dm.MsgReleaseMetadataSnap:
		if err == nil {
			c.held--
		}
	}
	return out, err
}

func (c *rootCounter) PoolMetadata(ctx context.Context, pool string, snap bool) (*dm.MetadataDump, error) {
	c.mu.Lock()
	c.dump++
	c.mu.Unlock()
	time.Sleep(c.slow)
	return c.reader.PoolMetadata(ctx, pool, snap)
}

// TestDeltaConcurrentReadersShareOneRoot: many goroutines calling Mappings
// and Delta at once (while snapshots are being taken) get the answers a
// lone reader gets, the pool holds at most one metadata root at a time,
// readers share it, no reserve is ever refused as busy and none is left
// held.
func TestDeltaConcurrentReadersShareOneRoot(t *testing.T) {
	e := newSpaceEnv(t)
	reader, ok := e.ctl.(dm.MetadataReader)
	if !ok {
		t.Fatalf("%T does not read pool metadata", e.ctl)
	}
	rc := &rootCounter{Control: e.ctl, reader: reader, slow: 20 * time.Millisecond}
	e.ctl = rc
	p := e.pool(Config{Name: "shared"}, 8<<20, 64<<20, nil)
	h := newHistory(e, p)
	h.build()

	wantMaps, err := p.Mappings(e.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantDelta, err := p.Delta(e.ctx, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.reserves, rc.dump = 0, 0
	rc.mu.Unlock()

	const readers, rounds = 12, 6
	var wg sync.WaitGroup
	errs := make(chan error, readers*rounds+16)
	var calls int
	var callsMu sync.Mutex
	for g := 0; g < readers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				callsMu.Lock()
				calls++
				callsMu.Unlock()
				if (g+r)%2 == 0 {
					m, err := p.Mappings(e.ctx, 1)
					if err == nil && !reflect.DeepEqual(m, wantMaps) {
						err = fmt.Errorf("reader %d: Mappings(1) = %v, alone %v", g, m, wantMaps)
					}
					if err != nil {
						errs <- err
					}
					continue
				}
				d, err := p.Delta(e.ctx, 2, 3)
				if err == nil && !reflect.DeepEqual(d, wantDelta) {
					err = fmt.Errorf("reader %d: Delta(2, 3) = %v, alone %v", g, d, wantDelta)
				}
				if err != nil {
					errs <- err
				}
			}
		}(g)
	}
	// Meanwhile the pool changes: snapshots of a snapshot are taken and
	// read at once, which needs a root newer than the shared one.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint32(0); i < 3; i++ {
			id := 20 + i
			if err := p.Snapshot(e.ctx, id, 3); err != nil {
				errs <- err
				return
			}
			d, err := p.Delta(e.ctx, 3, id)
			if err == nil && len(d) != 0 {
				err = fmt.Errorf("a fresh snapshot %d differs from its origin: %v", id, d)
			}
			if err != nil {
				errs <- fmt.Errorf("read new snapshot %d: %w", id, err)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t.Logf("%d concurrent reads (+3 fresh) took %d reserves and %d metadata reads; at most %d held at once", calls, rc.reserves, rc.dump, rc.maxHeld)
	switch {
	case rc.maxHeld != 1:
		t.Fatalf("%d metadata roots held at once, want 1", rc.maxHeld)
	case rc.busy != 0:
		t.Fatalf("%d reserves refused as busy", rc.busy)
	case rc.held != 0:
		t.Fatalf("%d metadata roots left held", rc.held)
	case rc.reserves >= calls:
		t.Fatalf("%d reserves for %d overlapping reads: readers did not share the held root", rc.reserves, calls)
	case rc.dump != rc.reserves:
		t.Fatalf("%d metadata reads for %d reserves: sharers must not read again", rc.dump, rc.reserves)
	}
	// The kernel agrees nothing is held: a fresh reserve succeeds.
	ps, err := p.Status(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ps.HasHeldRoot {
		t.Fatalf("status shows a held root %d after every reader finished", ps.HeldRoot)
	}
}
