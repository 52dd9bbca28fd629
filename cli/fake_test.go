package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// fakeAPI is an in-memory cluster: creates, snapshots, deletes and
// reverts finish at once; it records every write as one line ("op args")
// so tests check what the commands asked for.
type fakeAPI struct {
	nodes  []metadata.Node
	vgs    map[string]*metadata.VG
	pools  map[string][]*metadata.Pool
	vols   map[string][]*metadata.Volume
	writes []string
	n      int
}

func newFake() *fakeAPI {
	return &fakeAPI{
		nodes: []metadata.Node{{ID: "n1", State: metadata.NodeUp}, {ID: "n2", State: metadata.NodeUp}, {ID: "n3", State: metadata.NodeDown}},
		vgs:   map[string]*metadata.VG{}, pools: map[string][]*metadata.Pool{}, vols: map[string][]*metadata.Volume{},
	}
}

func (f *fakeAPI) uuid() string { f.n++; return fmt.Sprintf("u%d", f.n) }

func (f *fakeAPI) log(format string, a ...any) {
	f.writes = append(f.writes, fmt.Sprintf(format, a...))
}

func notFound(what string) error {
	return &client.Error{Status: 404, Code: string(metadata.CodeNotFound), Message: what + " not found"}
}

func (f *fakeAPI) Cluster(context.Context) (*api.ClusterInfo, error) {
	return &api.ClusterInfo{Node: "n1", LeaderID: "n1", Members: f.nodes}, nil
}
func (f *fakeAPI) Nodes(context.Context, ...client.Option) ([]metadata.Node, error) {
	return f.nodes, nil
}
func (f *fakeAPI) VGs(context.Context, ...client.Option) ([]metadata.VG, error) {
	var out []metadata.VG
	for _, v := range f.vgs {
		out = append(out, *v)
	}
	return out, nil
}
func (f *fakeAPI) VG(_ context.Context, name string, _ ...client.Option) (*metadata.VG, error) {
	if v := f.vgs[name]; v != nil {
		return v, nil
	}
	return nil, notFound("volume group " + name)
}
func (f *fakeAPI) CreateVG(_ context.Context, req api.VGCreateRequest) (*metadata.VG, error) {
	f.log("vg_create %s tags=%v max=%d", req.Name, req.Tags, req.MaxVolumes)
	if f.vgs[req.Name] != nil {
		return nil, &client.Error{Status: 409, Code: string(metadata.CodeExists), Message: "volume group " + req.Name + " exists"}
	}
	f.vgs[req.Name] = &metadata.VG{Name: req.Name, UUID: f.uuid(), Tags: req.Tags, MaxVolumes: req.MaxVolumes}
	return f.vgs[req.Name], nil
}
func (f *fakeAPI) DeleteVG(_ context.Context, name string) error {
	f.log("vg_delete %s", name)
	delete(f.vgs, name)
	return nil
}
func (f *fakeAPI) Pools(_ context.Context, vg string, _ ...client.Option) ([]metadata.Pool, error) {
	var out []metadata.Pool
	for _, p := range f.pools[vg] {
		out = append(out, *p)
	}
	return out, nil
}
func (f *fakeAPI) pool(vg, name string) *metadata.Pool {
	for _, p := range f.pools[vg] {
		if p.Name == name || p.UUID == name {
			return p
		}
	}
	return nil
}
func (f *fakeAPI) Pool(_ context.Context, vg, name string, _ ...client.Option) (*metadata.Pool, error) {
	if p := f.pool(vg, name); p != nil {
		c := *p
		return &c, nil
	}
	return nil, notFound("pool " + vg + "/" + name)
}
func (f *fakeAPI) CreatePool(_ context.Context, vg string, req api.PoolCreateRequest) (*metadata.Pool, error) {
	f.log("pool_create %s/%s node=%s chunk=%d data=%d meta=%d zero=%v discards=%s einospc=%v", vg, req.Name, req.Node, req.ChunkSectors, req.DataBytes, req.MetaBytes, req.Zero, req.Discards, req.ErrorIfNoSpace)
	if f.vgs[vg] == nil {
		return nil, notFound("volume group " + vg)
	}
	p := &metadata.Pool{UUID: f.uuid(), VG: vg, Name: req.Name, Node: req.Node, ChunkSectors: req.ChunkSectors, DataBytes: req.DataBytes,
		MetaBytes: req.MetaBytes, Zero: req.Zero, Discards: req.Discards, State: metadata.PoolActive}
	f.pools[vg] = append(f.pools[vg], p)
	return p, nil
}
func (f *fakeAPI) Volumes(_ context.Context, vg string, _ client.ListOptions) (*api.VolumeList, error) {
	out := &api.VolumeList{}
	for _, v := range f.vols[vg] {
		out.Volumes = append(out.Volumes, *v)
	}
	return out, nil
}
func (f *fakeAPI) vol(vg, name string) *metadata.Volume {
	for _, v := range f.vols[vg] {
		if v.Name == name || v.UUID == name {
			return v
		}
	}
	return nil
}
func (f *fakeAPI) Volume(_ context.Context, vg, name string, _ ...client.Option) (*metadata.Volume, error) {
	if v := f.vol(vg, name); v != nil {
		c := *v
		return &c, nil
	}
	return nil, notFound("volume " + vg + "/" + name)
}
func done() *api.Operation { return &api.Operation{ID: "1", State: api.OpDone} }

func (f *fakeAPI) CreateVolume(_ context.Context, vg string, req api.VolumeCreateRequest, _ ...client.Option) (*api.VolumeResponse, error) {
	f.log("volume_create %s/%s pool=%s size=%d ro=%v skip=%v tags=%v", vg, req.Name, req.Pool, req.SizeBytes, req.ReadOnly, req.ActivationSkip, req.Tags)
	p := f.pool(vg, req.Pool)
	if p == nil {
		return nil, notFound("pool " + req.Pool)
	}
	if f.vol(vg, req.Name) != nil || f.pool(vg, req.Name) != nil {
		return nil, &client.Error{Status: 409, Code: string(metadata.CodeExists), Message: "name " + req.Name + " is taken"}
	}
	v := &metadata.Volume{UUID: f.uuid(), VG: vg, Name: req.Name, Pool: p.UUID, SizeBytes: req.SizeBytes, State: metadata.VolumeActive,
		ReadOnly: req.ReadOnly, ActivationSkip: req.ActivationSkip, Active: !req.ActivationSkip, Tags: req.Tags}
	f.vols[vg] = append(f.vols[vg], v)
	c := *v
	return &api.VolumeResponse{Volume: &c, Operation: done()}, nil
}
func (f *fakeAPI) PatchVolume(_ context.Context, vg, name string, req api.VolumePatchRequest) (*metadata.Volume, error) {
	var parts []string
	v := f.vol(vg, name)
	if v == nil {
		return nil, notFound("volume " + vg + "/" + name)
	}
	if req.SizeBytes != nil {
		parts = append(parts, fmt.Sprintf("size=%d", *req.SizeBytes))
		v.SizeBytes = *req.SizeBytes
	}
	if req.Tags != nil {
		parts = append(parts, fmt.Sprintf("tags=%v", *req.Tags))
		v.Tags = *req.Tags
	}
	if req.ReadOnly != nil {
		parts = append(parts, fmt.Sprintf("ro=%v", *req.ReadOnly))
		v.ReadOnly = *req.ReadOnly
	}
	if req.ActivationSkip != nil {
		parts = append(parts, fmt.Sprintf("skip=%v", *req.ActivationSkip))
		v.ActivationSkip = *req.ActivationSkip
	}
	if req.Active != nil {
		parts = append(parts, fmt.Sprintf("active=%v", *req.Active))
		v.Active = *req.Active
	}
	if req.NewName != nil {
		parts = append(parts, "name="+*req.NewName)
		if f.vol(vg, *req.NewName) != nil || f.pool(vg, *req.NewName) != nil {
			f.log("volume_patch %s/%s %s", vg, name, strings.Join(parts, " "))
			return nil, &client.Error{Status: 409, Code: string(metadata.CodeExists), Message: "name " + *req.NewName + " is taken"}
		}
		v.Name = *req.NewName
	}
	f.log("volume_patch %s/%s %s", vg, name, strings.Join(parts, " "))
	c := *v
	return &c, nil
}
func (f *fakeAPI) SetActive(ctx context.Context, vg, name string, active bool) (*metadata.Volume, error) {
	if v := f.vol(vg, name); v != nil && v.Open && !active {
		return nil, &client.Error{Status: 409, Code: string(metadata.CodeConflict), Message: "volume " + name + " is in use"}
	}
	return f.PatchVolume(ctx, vg, name, api.VolumePatchRequest{Active: &active})
}
func (f *fakeAPI) DeleteVolume(_ context.Context, vg, name string, _ ...client.Option) (*api.VolumeResponse, error) {
	f.log("volume_delete %s/%s", vg, name)
	v := f.vol(vg, name)
	if v == nil {
		return nil, notFound("volume " + vg + "/" + name)
	}
	f.vols[vg] = slices.DeleteFunc(f.vols[vg], func(x *metadata.Volume) bool { return x == v })
	return &api.VolumeResponse{Operation: done()}, nil
}
func (f *fakeAPI) CreateSnapshot(_ context.Context, vg, name string, req api.SnapshotCreateRequest, _ ...client.Option) (*api.VolumeResponse, error) {
	f.log("snapshot_create %s/%s of %s ro=%v noskip=%v", vg, req.Name, name, req.ReadOnly, req.NoActivationSkip)
	o := f.vol(vg, name)
	if o == nil {
		return nil, notFound("volume " + vg + "/" + name)
	}
	v := &metadata.Volume{UUID: f.uuid(), VG: vg, Name: req.Name, Pool: o.Pool, SizeBytes: o.SizeBytes, Origin: o.UUID, IsSnapshot: true,
		State: metadata.VolumeActive, ReadOnly: req.ReadOnly, ActivationSkip: !req.NoActivationSkip, Active: req.NoActivationSkip}
	f.vols[vg] = append(f.vols[vg], v)
	c := *v
	return &api.VolumeResponse{Volume: &c, Operation: done()}, nil
}
func (f *fakeAPI) Revert(_ context.Context, vg, name, snapshot string, _ ...client.Option) (*api.VolumeResponse, error) {
	s := f.vol(vg, snapshot)
	f.log("volume_revert %s/%s to %s", vg, name, s.Name)
	return &api.VolumeResponse{Operation: done()}, nil
}
func (f *fakeAPI) WaitOperation(context.Context, string) (*api.Operation, error) { return done(), nil }
func (f *fakeAPI) DeletePool(_ context.Context, vg, pool string) error {
	f.log("pool_delete %s/%s", vg, pool)
	f.pools[vg] = slices.DeleteFunc(f.pools[vg], func(p *metadata.Pool) bool { return p.Name == pool })
	return nil
}
func (f *fakeAPI) Unquarantine(_ context.Context, vg, pool string) (*metadata.Pool, error) {
	f.log("pool_unquarantine %s/%s", vg, pool)
	p := f.pool(vg, pool)
	p.State = metadata.PoolActive
	return p, nil
}
func (f *fakeAPI) LeaveNode(_ context.Context, id string) (*metadata.Node, error) {
	f.log("node_leave %s", id)
	return &metadata.Node{ID: id}, nil
}
func (f *fakeAPI) RemoveNode(_ context.Context, id string, force bool) (*metadata.Node, error) {
	f.log("node_remove %s force=%v", id, force)
	return &metadata.Node{ID: id}, nil
}
func (f *fakeAPI) GrowPool(_ context.Context, vg, pool string, req api.PoolGrowRequest) (*metadata.Pool, error) {
	f.log("pool_grow %s/%s data=%d meta=%d", vg, pool, req.DataBytes, req.MetaBytes)
	p := f.pool(vg, pool)
	if req.DataBytes != 0 {
		p.DataBytes = req.DataBytes
	}
	if req.MetaBytes != 0 {
		p.MetaBytes = req.MetaBytes
	}
	return p, nil
}

func (f *fakeAPI) Export(_ context.Context, vg, name string, _ ...client.Option) (*api.ExportInfo, error) {
	v := f.vol(vg, name)
	if v == nil {
		return nil, notFound("volume " + vg + "/" + name)
	}
	return &api.ExportInfo{Node: "n1", Address: "127.0.0.1:10809", Export: vg + "/" + name, Active: v.Active, Open: v.Open}, nil
}

// Backup writes a real backup (the metadata snapshot format) of a model
// holding one VG, at Raft index 7.
func (f *fakeAPI) Backup(_ context.Context, w io.Writer) (int64, error) {
	fsm := metadata.New(metadata.Options{})
	cmd, err := metadata.Encode(metadata.CmdVGCreate, time.Unix(0, 0), metadata.VGCreate{Name: "vg", UUID: "00000000-0000-4000-8000-000000000001"})
	if err != nil {
		return 0, err
	}
	if r := fsm.ApplyCommand(7, cmd); r.Err != nil {
		return 0, r.Err
	}
	sn, err := fsm.Snapshot()
	if err != nil {
		return 0, err
	}
	return sn.(*metadata.Snapshot).WriteTo(w)
}
