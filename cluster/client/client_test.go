package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/api/apitest"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

func newClient(t *testing.T, c *apitest.Cluster, retry time.Duration, endpoints ...string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Endpoints: endpoints, Token: c.Token, CA: c.CA.Pool(), RetryTimeout: retry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// setup creates vg0 and pool0 (on node owner) through cl and returns the
// pool's uuid.
func setup(t *testing.T, cl *client.Client, owner string) string {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	if _, err := cl.CreateVG(ctx, api.VGCreateRequest{Name: "vg0"}); err != nil {
		t.Fatalf("create VG: %v", err)
	}
	p, err := cl.CreatePool(ctx, "vg0", api.PoolCreateRequest{Name: "pool0", Node: owner, ChunkSectors: 128,
		DataBytes: 1 << 30, MetaBytes: 64 << 20})
	if err != nil {
		t.Fatalf("create pool: %v", err)
	}
	if p.UUID == "" || p.Name != "pool0" || p.Node != owner {
		t.Fatalf("pool answer %+v", p)
	}
	return p.UUID
}

// TestForwardedLifecycle drives every write through a FOLLOWER (so it is
// forwarded to the leader) and checks the results with linearizable reads,
// also through the follower, right after each write.
func TestForwardedLifecycle(t *testing.T) {
	c := apitest.Start(t, 3)
	f := c.Follower()
	cl := newClient(t, c, 10*time.Second, f.APIAddr)
	pool := setup(t, cl, f.ID)
	ctx := ctxT(t, 60*time.Second)

	// The leader's replica has the VG: the write really went through Raft.
	if _, ok := c.Leader().FSM.VolumeByName("vg0", "nothing"); ok {
		t.Fatal("unexpected volume")
	}
	var hasVG bool
	c.Leader().FSM.Read(func(v metadata.View) { _, hasVG = v.VG("vg0") })
	if !hasVG {
		t.Fatal("leader FSM has no vg0")
	}

	// Create: 202 with a pending operation; a linearizable read through the
	// follower sees the volume at once.
	cr, err := cl.CreateVolume(ctx, "vg0", api.VolumeCreateRequest{Name: "vol1", Pool: "pool0", SizeBytes: 1 << 30, Tags: []string{"t1"}})
	if err != nil {
		t.Fatal(err)
	}
	if cr.Operation == nil || cr.Operation.State != api.OpPending || cr.Volume == nil || cr.Volume.State != metadata.VolumeCreating {
		t.Fatalf("create answer %+v", cr)
	}
	v, err := cl.Volume(ctx, "vg0", "vol1")
	if err != nil || v.UUID != cr.Volume.UUID || v.State != metadata.VolumeCreating {
		t.Fatalf("read after create: %+v %v", v, err)
	}
	op, err := cl.Operation(ctx, cr.Operation.ID)
	if err != nil || op.State != api.OpPending || len(op.Intents) != 1 || op.Intents[0].Op != metadata.OpCreateThin {
		t.Fatalf("operation %+v %v", op, err)
	}

	// WaitOperation returns once the "agent" completes the intent.
	done := make(chan error, 1)
	go func() {
		op, err := cl.WaitOperation(ctx, cr.Operation.ID)
		if err == nil && op.State != api.OpDone {
			err = fmt.Errorf("state %s", op.State)
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("WaitOperation returned before completion: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	c.CompleteIntents(pool)
	if err := <-done; err != nil {
		t.Fatalf("WaitOperation: %v", err)
	}
	if v, err := cl.Volume(ctx, "vg0", "vol1"); err != nil || v.State != metadata.VolumeActive {
		t.Fatalf("read after completion: %+v %v", v, err)
	}

	// Snapshot with ?wait: the answer is the finished operation.
	snapDone := make(chan *api.VolumeResponse, 1)
	go func() {
		r, err := cl.CreateSnapshot(ctx, "vg0", "vol1", api.SnapshotCreateRequest{Name: "snap1"}, client.Wait(10*time.Second))
		if err != nil {
			t.Errorf("snapshot: %v", err)
		}
		snapDone <- r
	}()
	var sr *api.VolumeResponse
	for sr == nil {
		select {
		case sr = <-snapDone:
		case <-time.After(50 * time.Millisecond):
			c.CompleteIntents(pool)
		}
	}
	if sr.Operation == nil || sr.Operation.State != api.OpDone || sr.Volume == nil || !sr.Volume.IsSnapshot ||
		sr.Volume.State != metadata.VolumeActive || sr.Volume.Origin != cr.Volume.UUID {
		t.Fatalf("snapshot answer %+v", sr)
	}

	// PATCH: extend, tags, read-only and rename in one request.
	size, tags, ro, name := uint64(2<<30), []string{"a", "b"}, true, "vol1-renamed"
	pv, err := cl.PatchVolume(ctx, "vg0", "vol1", api.VolumePatchRequest{SizeBytes: &size, Tags: &tags, ReadOnly: &ro, NewName: &name})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Name != name || pv.SizeBytes != size || !pv.ReadOnly || !slices.Equal(pv.Tags, tags) || pv.UUID != cr.Volume.UUID {
		t.Fatalf("patched %+v", pv)
	}
	if _, err := cl.Volume(ctx, "vg0", "vol1"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("old name after rename: %v", err)
	}

	// Revert to the snapshot: two intents, one operation.
	rr, err := cl.Revert(ctx, "vg0", name, "snap1")
	if err != nil {
		t.Fatal(err)
	}
	if rr.Operation == nil || len(rr.Operation.Intents) != 2 || rr.Operation.State != api.OpPending {
		t.Fatalf("revert answer %+v", rr)
	}
	c.CompleteIntents(pool)
	if op, err := cl.WaitOperation(ctx, rr.Operation.ID); err != nil || op.State != api.OpDone {
		t.Fatalf("revert wait: %+v %v", op, err)
	}

	// A delete the agent abandons: WaitOperation reports ErrAbandoned with
	// the reason, and the volume stays.
	dr, err := cl.DeleteVolume(ctx, "vg0", "snap1")
	if err != nil {
		t.Fatal(err)
	}
	c.AbandonIntents(pool, "test refuses", dr.Operation.Intents[0].ID)
	op, err = cl.WaitOperation(ctx, dr.Operation.ID)
	if !errors.Is(err, client.ErrAbandoned) || op.State != api.OpAbandoned || op.Reason != "test refuses" {
		t.Fatalf("abandoned delete: %+v %v", op, err)
	}
	if _, err := cl.Volume(ctx, "vg0", "snap1"); err != nil {
		t.Fatalf("snapshot gone after abandoned delete: %v", err)
	}

	// A delete that completes: the volume is gone.
	dr, err = cl.DeleteVolume(ctx, "vg0", "snap1")
	if err != nil {
		t.Fatal(err)
	}
	c.CompleteIntents(pool)
	if _, err := cl.WaitOperation(ctx, dr.Operation.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Volume(ctx, "vg0", "snap1"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("deleted snapshot still readable: %v", err)
	}
}

// TestPaging lists a VG in pages through a follower and gets every volume
// exactly once, in name order.
func TestPaging(t *testing.T) {
	c := apitest.Start(t, 3)
	f := c.Follower()
	cl := newClient(t, c, 10*time.Second, f.APIAddr)
	setup(t, cl, f.ID)
	ctx := ctxT(t, 60*time.Second)
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("v%02d", 6-i)
		if _, err := cl.CreateVolume(ctx, "vg0", api.VolumeCreateRequest{Name: name, Pool: "pool0", SizeBytes: 1 << 20}); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	slices.Sort(want)
	var got []string
	after, pages := "", 0
	for {
		page, err := cl.Volumes(ctx, "vg0", client.ListOptions{After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range page.Volumes {
			got = append(got, v.Name)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("paged %v in %d pages, want %v in 3", got, pages, want)
	}
}

// TestStaleRead: with the quorum gone, a linearizable read is refused with
// not_leader once the retries run out, while ?stale=true answers from the
// replica.
func TestStaleRead(t *testing.T) {
	c := apitest.Start(t, 3)
	f := c.Follower()
	cl := newClient(t, c, 10*time.Second, f.APIAddr)
	setup(t, cl, f.ID)
	ctx := ctxT(t, 60*time.Second)
	if _, err := cl.CreateVolume(ctx, "vg0", api.VolumeCreateRequest{Name: "vol1", Pool: "pool0", SizeBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	c.Converge()
	for _, id := range c.IDs() {
		if id != f.ID {
			c.Kill(id)
		}
	}
	short := newClient(t, c, 4*time.Second, f.APIAddr)
	start := time.Now()
	_, err := short.Volume(ctx, "vg0", "vol1")
	if !errors.Is(err, client.ErrNotLeader) {
		t.Fatalf("linearizable read without quorum: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("refusal took %v", d)
	}
	v, err := short.Volume(ctx, "vg0", "vol1", client.Stale())
	if err != nil || v.Name != "vol1" {
		t.Fatalf("stale read: %+v %v", v, err)
	}
	// A write attempt cut off by the retry deadline may have reached a
	// leader as far as the client knows, so outcome_unknown is as right an
	// answer as not_leader; success is not.
	if _, err := short.CreateVG(ctx, api.VGCreateRequest{Name: "vg1"}); !errors.Is(err, client.ErrNotLeader) && !errors.Is(err, client.ErrOutcomeUnknown) {
		t.Fatalf("write without quorum: %v", err)
	}
}

// TestLeaderKill: the client's first endpoint is the leader; after it is
// killed, calls retry onto the survivors and reach the new leader.
func TestLeaderKill(t *testing.T) {
	c := apitest.Start(t, 3)
	old := c.Leader()
	eps := []string{old.APIAddr}
	for _, id := range c.IDs() {
		if id != old.ID {
			eps = append(eps, c.Node(id).APIAddr)
		}
	}
	cl := newClient(t, c, 15*time.Second, eps...)
	ctx := ctxT(t, 60*time.Second)
	if _, err := cl.CreateVG(ctx, api.VGCreateRequest{Name: "before"}); err != nil {
		t.Fatal(err)
	}
	c.Kill(old.ID)
	// Straight after the kill: no leader for a while; the client retries.
	if _, err := cl.CreateVG(ctx, api.VGCreateRequest{Name: "after"}); err != nil {
		t.Fatalf("write after leader kill: %v", err)
	}
	vgs, err := cl.VGs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, vg := range vgs {
		names = append(names, vg.Name)
	}
	if !slices.Equal(names, []string{"after", "before"}) {
		t.Fatalf("VGs after failover: %v", names)
	}
	info, err := cl.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.LeaderID == "" || info.LeaderID == old.ID || len(info.Raft) != 3 || len(info.Members) != 3 {
		t.Fatalf("leader after kill: %+v", info)
	}
}

// TestLongWaitThroughFollower: a forwarded long poll may outlast the
// follower's ForwardTimeout (2 s in apitest), which bounds only the search
// for a leader.
func TestLongWaitThroughFollower(t *testing.T) {
	c := apitest.Start(t, 3)
	f := c.Follower()
	cl := newClient(t, c, 10*time.Second, f.APIAddr)
	pool := setup(t, cl, f.ID)
	ctx := ctxT(t, 30*time.Second)
	r, err := cl.CreateVolume(ctx, "vg0", api.VolumeCreateRequest{Name: "vol1", Pool: "pool0", SizeBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(3 * time.Second)
		c.CompleteIntents(pool)
	}()
	start := time.Now()
	op, err := cl.Operation(ctx, r.Operation.ID, client.Wait(8*time.Second))
	if err != nil || op.State != api.OpDone {
		t.Fatalf("long wait: %+v %v", op, err)
	}
	if d := time.Since(start); d < 2500*time.Millisecond {
		t.Fatalf("answered after %v, before the completion", d)
	}
}

// TestClientCertificate: the client authenticates with a client
// certificate of the cluster CA instead of a token.
func TestClientCertificate(t *testing.T) {
	c := apitest.Start(t, 3)
	b, err := c.CA.IssueClient("cinder", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{b.Cert.Raw}, PrivateKey: b.Key, Leaf: b.Cert}
	cl, err := client.New(client.Config{Endpoints: []string{c.Follower().APIAddr}, CA: c.CA.Pool(), Certificate: &cert})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctxT(t, 20*time.Second)
	if _, err := cl.CreateVG(ctx, api.VGCreateRequest{Name: "vg0"}); err != nil {
		t.Fatalf("create with a client cert, forwarded: %v", err)
	}
	bad, err := client.New(client.Config{Endpoints: []string{c.Follower().APIAddr}, CA: c.CA.Pool(), Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.VGs(ctx); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
}

// TestLeaderKillUnderLoad: writers create VGs through every node while the
// leader is killed. Every create the client acknowledges exists afterwards,
// and none fails: the client re-sends creates whose answer was lost (the
// server recognises the repeat by uuid).
func TestLeaderKillUnderLoad(t *testing.T) {
	c := apitest.Start(t, 3)
	old := c.Leader()
	ctx := ctxT(t, 60*time.Second)
	const writers = 4
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	errs := make(chan error, writers)
	for w := range writers {
		eps := c.Endpoints()
		// Each writer starts at a different node, the leader included.
		eps = append(eps[w%len(eps):], eps[:w%len(eps)]...)
		cl := newClient(t, c, 20*time.Second, eps...)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, i)
				if _, err := cl.CreateVG(ctx, api.VGCreateRequest{Name: name}); err != nil {
					errs <- fmt.Errorf("create %s: %w", name, err)
					return
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	c.Kill(old.ID)
	time.Sleep(2 * time.Second)
	close(stop)
	for range writers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	cl := newClient(t, c, 20*time.Second, c.Endpoints()...)
	vgs, err := cl.VGs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, vg := range vgs {
		have[vg.Name] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range acked {
		if !have[n] {
			t.Errorf("acknowledged VG %s lost", n)
		}
	}
	if len(acked) < 10 {
		t.Errorf("only %d creates acknowledged", len(acked))
	}
	t.Logf("%d creates acknowledged, %d VGs present, leader %s killed", len(acked), len(vgs), old.ID)
}
