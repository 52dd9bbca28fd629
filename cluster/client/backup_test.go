package client_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/api/apitest"
	"github.com/thinraft/thinraft/metadata"
)

// TestBackup: a backup taken through a follower holds every acknowledged
// write and restores into a fresh state machine that re-encodes to the same
// bytes.
func TestBackup(t *testing.T) {
	c := apitest.Start(t, 3)
	cl := newClient(t, c, 10*time.Second, c.Follower().APIAddr)
	pool := setup(t, cl, "n1")
	ctx := ctxT(t, 30*time.Second)
	if _, err := cl.CreateVolume(ctx, "vg0", api.VolumeCreateRequest{Name: "lv1", Pool: "pool0", SizeBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	c.CompleteIntents(pool)
	var b bytes.Buffer
	n, err := cl.Backup(ctx, &b)
	if err != nil || n != int64(b.Len()) || n == 0 {
		t.Fatalf("backup: %d bytes (%d buffered), %v", n, b.Len(), err)
	}
	f := metadata.New(metadata.Options{})
	if err := f.Restore(io.NopCloser(bytes.NewReader(b.Bytes()))); err != nil {
		t.Fatalf("restore the backup: %v", err)
	}
	v, ok := f.VolumeByName("vg0", "lv1")
	if !ok || v.State != metadata.VolumeActive {
		t.Fatalf("backup lacks the acknowledged volume: %+v %v", v, ok)
	}
	sn, _ := f.Snapshot()
	var again bytes.Buffer
	if _, err := sn.(*metadata.Snapshot).WriteTo(&again); err != nil || !bytes.Equal(again.Bytes(), b.Bytes()) {
		t.Fatalf("restored backup re-encodes differently (%v)", err)
	}
}
