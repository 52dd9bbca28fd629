package driver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// replayAPI answers a create with a refusal and lookups from a script of
// volume states, to exercise the driver's own replay check (the server
// normally recognises a repeated uuid+name itself).
type replayAPI struct {
	API
	refusal error
	states  []*metadata.Volume // successive answers of Volume; nil = not found
	calls   int
}

func (f *replayAPI) Pools(context.Context, string, ...client.Option) ([]metadata.Pool, error) {
	return []metadata.Pool{{UUID: "p", Name: "pool0", Node: "n1", State: metadata.PoolActive, ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 8 << 20}}, nil
}

func (f *replayAPI) Nodes(context.Context, ...client.Option) ([]metadata.Node, error) {
	return []metadata.Node{{ID: "n1", State: metadata.NodeUp}}, nil
}

func (f *replayAPI) CreateVolume(context.Context, string, api.VolumeCreateRequest, ...client.Option) (*api.VolumeResponse, error) {
	return nil, f.refusal
}

func (f *replayAPI) Volume(context.Context, string, string, ...client.Option) (*metadata.Volume, error) {
	i := min(f.calls, len(f.states)-1)
	f.calls++
	if f.states[i] == nil {
		return nil, &client.Error{Code: "not_found", Message: "no such volume"}
	}
	return f.states[i], nil
}

func TestCreateReplay(t *testing.T) {
	const id = "1a000000-0000-4000-8000-000000000001"
	exists := &client.Error{Code: "exists", Message: "volume vg0/volume-x exists"}
	conflict := &client.Error{Code: "conflict", Message: "pending"}
	vol := func(uuid string, st metadata.VolumeState) *metadata.Volume {
		return &metadata.Volume{UUID: uuid, Name: "volume-" + id, State: st, Reason: "kernel refused"}
	}
	cases := []struct {
		name    string
		refusal error
		states  []*metadata.Volume
		want    error // nil: success
	}{
		{"same id, settled", exists, []*metadata.Volume{vol(id, metadata.VolumeActive)}, nil},
		{"same id, conflict answered, settled", conflict, []*metadata.Volume{vol(id, metadata.VolumeActive)}, nil},
		{"same id, still creating, then settled", exists, []*metadata.Volume{vol(id, metadata.VolumeCreating), vol(id, metadata.VolumeCreating), vol(id, metadata.VolumeActive)}, nil},
		{"same id, earlier attempt failed", exists, []*metadata.Volume{vol(id, metadata.VolumeFailed)}, ErrBackend},
		{"another uuid holds the name", exists, []*metadata.Volume{vol("2a000000-0000-4000-8000-000000000002", metadata.VolumeActive)}, ErrExists},
		{"gone by the time we look", exists, []*metadata.Volume{nil}, ErrExists},
		{"other refusals pass through", &client.Error{Code: "no_space"}, []*metadata.Volume{nil}, ErrNoSpace},
	}
	for _, c := range cases {
		f := &replayAPI{refusal: c.refusal, states: c.states}
		d, err := New(f, Config{VG: "vg0", OpTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.CreateVolume(context.Background(), Volume{ID: id, Size: 1})
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: %v, want success", c.name, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: %v, want %v", c.name, err, c.want.(*Error).Kind)
		}
	}
}
