package agent

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// laggingProposer is a two-replica log without Raft: every command is
// applied at once on the leader's FSM, and on the local FSM only when the
// test says (a follower that has not learnt of the commit yet).
type laggingProposer struct {
	mu            sync.Mutex
	leader, local *metadata.FSM
	log           [][]byte
	hold          bool
	appliedLocal  int
	// gate, if set, is waited on before a command is committed; fail, if
	// set, is returned instead of committing (no quorum).
	gate chan struct{}
	fail error
}

func (p *laggingProposer) Propose(ctx context.Context, cmd metadata.Command) (*metadata.Result, error) {
	data, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	gate, fail := p.gate, p.fail
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, data)
	res := p.leader.ApplyCommand(uint64(len(p.log)), data)
	if !p.hold {
		p.catchUpLocked()
	}
	return res, nil
}

// catchUp applies the commands the local replica has not applied yet.
func (p *laggingProposer) catchUp() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.catchUpLocked()
}

func (p *laggingProposer) catchUpLocked() {
	for ; p.appliedLocal < len(p.log); p.appliedLocal++ {
		p.local.ApplyCommand(uint64(p.appliedLocal+1), p.log[p.appliedLocal])
	}
}

func (p *laggingProposer) setHold(h bool) {
	p.mu.Lock()
	p.hold = h
	p.mu.Unlock()
}

func (p *laggingProposer) do(t *testing.T, typ metadata.CommandType, payload any) {
	t.Helper()
	if _, err := propose(context.Background(), p.local, p, time.Now(), typ, payload); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}

// TestCompletionAhead: after CompleteBatch returns, Load and Pending show
// the pool as after the completion although the local replica has not
// applied it, and agree with the replica once it has.
func TestCompletionAhead(t *testing.T) {
	ctx := context.Background()
	p := &laggingProposer{leader: metadata.New(metadata.Options{}), local: metadata.New(metadata.Options{})}
	pool := newUUID(t)
	p.do(t, metadata.CmdNodeJoin, metadata.NodeJoin{ID: "n1", Addr: "127.0.0.1:1"})
	p.do(t, metadata.CmdVGCreate, metadata.VGCreate{Name: testVG, UUID: newUUID(t)})
	p.do(t, metadata.CmdPoolAdd, metadata.PoolAdd{UUID: pool, VG: testVG, Name: "pool0", Node: "n1", ChunkSectors: 128,
		DataBytes: 64 * mib, MetaBytes: 8 * mib, Discards: "passdown"})
	a, b := newUUID(t), newUUID(t)
	for i, id := range []string{a, b} {
		p.do(t, metadata.CmdVolumeCreate, metadata.VolumeCreate{UUID: id, VG: testVG, Name: []string{"a", "b"}[i], Pool: pool, SizeBytes: 4 * mib})
	}
	rec := NewRecord(p.local, p, pool)

	// complete runs CompleteBatch on the whole queue while the local
	// replica lags, and returns the state Load presents.
	complete := func() thinpool.PoolState {
		t.Helper()
		st, err := rec.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p.setHold(true)
		if err := rec.CompleteBatch(ctx, st.Queue); err != nil {
			t.Fatal(err)
		}
		if len(p.local.PendingIntents(pool)) == 0 {
			t.Fatal("the local replica applied the completion: the test does not lag it")
		}
		ahead, err := rec.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Pending(); len(got) != 0 {
			t.Errorf("Pending while lagging = %d intents, want none", len(got))
		}
		p.setHold(false)
		p.catchUp()
		caught, err := rec.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ahead.TxnID != caught.TxnID || len(ahead.Queue) != 0 || len(caught.Queue) != 0 || ahead.Pending != nil ||
			!slices.Equal(thinIDs(ahead), thinIDs(caught)) {
			t.Errorf("lagging Load = txn %d queue %d thins %v; after catching up txn %d queue %d thins %v",
				ahead.TxnID, len(ahead.Queue), thinIDs(ahead), caught.TxnID, len(caught.Queue), thinIDs(caught))
		}
		if n := len(rec.pendingAhead(p.local.AppliedIndex())); n != 0 {
			t.Errorf("%d completions still ahead after the replica caught up", n)
		}
		return caught
	}

	created := complete()
	if created.TxnID != 2 || len(created.Thins) != 2 {
		t.Fatalf("after the creates: txn %d thins %v, want txn 2 and two thins", created.TxnID, thinIDs(created))
	}
	p.do(t, metadata.CmdVolumeDelete, metadata.VolumeDelete{Volume: metadata.VolumeRef{UUID: a}})
	deleted := complete()
	if deleted.TxnID != 3 || len(deleted.Thins) != 1 {
		t.Fatalf("after the delete: txn %d thins %v, want txn 3 and one thin", deleted.TxnID, thinIDs(deleted))
	}
}

// TestCompletionRefusedIsNotAhead: a refused completion leaves nothing to
// present; the caller reads the replica's truth.
func TestCompletionRefusedIsNotAhead(t *testing.T) {
	ctx := context.Background()
	p := &laggingProposer{leader: metadata.New(metadata.Options{}), local: metadata.New(metadata.Options{})}
	pool := newUUID(t)
	p.do(t, metadata.CmdNodeJoin, metadata.NodeJoin{ID: "n1", Addr: "127.0.0.1:1"})
	p.do(t, metadata.CmdVGCreate, metadata.VGCreate{Name: testVG, UUID: newUUID(t)})
	p.do(t, metadata.CmdPoolAdd, metadata.PoolAdd{UUID: pool, VG: testVG, Name: "pool0", Node: "n1", ChunkSectors: 128,
		DataBytes: 64 * mib, MetaBytes: 8 * mib, Discards: "passdown"})
	p.do(t, metadata.CmdVolumeCreate, metadata.VolumeCreate{UUID: newUUID(t), VG: testVG, Name: "a", Pool: pool, SizeBytes: 4 * mib})
	rec := NewRecord(p.local, p, pool)
	st, err := rec.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wrong := st.Queue[0]
	wrong.FromTxn += 5
	err = rec.CompleteBatch(ctx, []thinpool.Intent{wrong})
	var me *metadata.Error
	if err == nil || !errors.As(err, &me) {
		t.Fatalf("completion from the wrong transaction: err %v, want the FSM's refusal", err)
	}
	after, err := rec.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.TxnID != st.TxnID || len(after.Queue) != 1 {
		t.Errorf("after a refused completion: txn %d queue %d, want txn %d queue 1", after.TxnID, len(after.Queue), st.TxnID)
	}
}

func thinIDs(st thinpool.PoolState) []uint32 {
	var ids []uint32
	for id := range st.Thins {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TestPipelinedCompletion: with a pipeline, CompleteBatch returns before
// the completion is committed; Load presents the pool as after it while it
// is in flight; a failed completion is reported once, drops what was
// outstanding, and leaves the replica's queue (from the old transaction id)
// as the truth.
func TestPipelinedCompletion(t *testing.T) {
	ctx := context.Background()
	p := &laggingProposer{leader: metadata.New(metadata.Options{}), local: metadata.New(metadata.Options{})}
	pool := newUUID(t)
	p.do(t, metadata.CmdNodeJoin, metadata.NodeJoin{ID: "n1", Addr: "127.0.0.1:1"})
	p.do(t, metadata.CmdVGCreate, metadata.VGCreate{Name: testVG, UUID: newUUID(t)})
	p.do(t, metadata.CmdPoolAdd, metadata.PoolAdd{UUID: pool, VG: testVG, Name: "pool0", Node: "n1", ChunkSectors: 128,
		DataBytes: 64 * mib, MetaBytes: 8 * mib, Discards: "passdown"})
	for _, name := range []string{"a", "b", "c"} {
		p.do(t, metadata.CmdVolumeCreate, metadata.VolumeCreate{UUID: newUUID(t), VG: testVG, Name: name, Pool: pool, SizeBytes: 4 * mib})
	}
	rec := NewRecord(p.local, p, pool)
	rec.depth = 2
	woken := make(chan struct{}, 16)
	rec.wake = func() { woken <- struct{}{} }
	var committed []int
	var mu sync.Mutex
	rec.committed = func(n int, _ time.Duration) { mu.Lock(); committed = append(committed, n); mu.Unlock() }
	st, err := rec.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}

	gate := make(chan struct{})
	p.mu.Lock()
	p.gate = gate
	p.mu.Unlock()
	if err := rec.CompleteBatch(ctx, st.Queue[:1]); err != nil {
		t.Fatal(err)
	}
	if err := rec.CompleteBatch(ctx, st.Queue[1:2]); err != nil {
		t.Fatal(err)
	}
	if b, n := rec.Outstanding(); b != 2 || n != 2 {
		t.Fatalf("outstanding %d batches %d intents, want 2 and 2", b, n)
	}
	mid, err := rec.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if mid.TxnID != 2 || len(mid.Queue) != 1 || mid.Queue[0].ID != st.Queue[2].ID || len(mid.Thins) != 2 {
		t.Fatalf("Load with two completions in flight: txn %d queue %d thins %v; want txn 2, the third intent, two thins",
			mid.TxnID, len(mid.Queue), thinIDs(mid))
	}
	close(gate)
	if err := rec.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	<-woken
	if got := len(p.leader.PendingIntents(pool)); got != 1 {
		t.Fatalf("leader's queue after the completions: %d, want 1", got)
	}
	mu.Lock()
	if sum := 0; len(committed) == 0 || func() int {
		for _, n := range committed {
			sum += n
		}
		return sum
	}() != 2 {
		t.Errorf("committed batches %v, want two intents in all", committed)
	}
	mu.Unlock()

	// The third completion fails: nothing stays presented, the failure is
	// reported once, and the replica's queue is the truth.
	p.mu.Lock()
	p.gate, p.fail = nil, errors.New("no quorum")
	p.mu.Unlock()
	if err := rec.CompleteBatch(ctx, st.Queue[2:]); err != nil {
		t.Fatal(err)
	}
	if err := rec.Drain(ctx); err == nil || !errors.Is(err, errCompletionsDropped) {
		t.Fatalf("Drain after a failed completion: %v", err)
	}
	if err := rec.TakeFailure(); err == nil {
		t.Fatal("the failure was not reported")
	}
	if err := rec.TakeFailure(); err != nil {
		t.Fatalf("the failure was reported twice: %v", err)
	}
	p.catchUp()
	after, err := rec.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.TxnID != 2 || len(after.Queue) != 1 {
		t.Fatalf("after the failed completion: txn %d queue %d, want txn 2 and the third intent queued", after.TxnID, len(after.Queue))
	}
}
