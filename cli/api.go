package cli

import (
	"context"
	"io"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// API is what the commands call: the methods of *client.Client they use,
// so unit tests can put a fake behind the commands.
type API interface {
	Cluster(ctx context.Context) (*api.ClusterInfo, error)
	Nodes(ctx context.Context, opts ...client.Option) ([]metadata.Node, error)
	VGs(ctx context.Context, opts ...client.Option) ([]metadata.VG, error)
	VG(ctx context.Context, name string, opts ...client.Option) (*metadata.VG, error)
	CreateVG(ctx context.Context, req api.VGCreateRequest) (*metadata.VG, error)
	DeleteVG(ctx context.Context, name string) error
	Pools(ctx context.Context, vg string, opts ...client.Option) ([]metadata.Pool, error)
	Pool(ctx context.Context, vg, name string, opts ...client.Option) (*metadata.Pool, error)
	CreatePool(ctx context.Context, vg string, req api.PoolCreateRequest) (*metadata.Pool, error)
	Volumes(ctx context.Context, vg string, lo client.ListOptions) (*api.VolumeList, error)
	Volume(ctx context.Context, vg, name string, opts ...client.Option) (*metadata.Volume, error)
	CreateVolume(ctx context.Context, vg string, req api.VolumeCreateRequest, opts ...client.Option) (*api.VolumeResponse, error)
	PatchVolume(ctx context.Context, vg, name string, req api.VolumePatchRequest) (*metadata.Volume, error)
	DeleteVolume(ctx context.Context, vg, name string, opts ...client.Option) (*api.VolumeResponse, error)
	CreateSnapshot(ctx context.Context, vg, name string, req api.SnapshotCreateRequest, opts ...client.Option) (*api.VolumeResponse, error)
	Revert(ctx context.Context, vg, name, snapshot string, opts ...client.Option) (*api.VolumeResponse, error)
	WaitOperation(ctx context.Context, id string) (*api.Operation, error)
	SetActive(ctx context.Context, vg, name string, active bool) (*metadata.Volume, error)
	Export(ctx context.Context, vg, name string, opts ...client.Option) (*api.ExportInfo, error)
	Backup(ctx context.Context, w io.Writer) (int64, error)
	GrowPool(ctx context.Context, vg, pool string, req api.PoolGrowRequest) (*metadata.Pool, error)
	DeletePool(ctx context.Context, vg, pool string) error
	Unquarantine(ctx context.Context, vg, pool string) (*metadata.Pool, error)
	LeaveNode(ctx context.Context, id string) (*metadata.Node, error)
	RemoveNode(ctx context.Context, id string, force bool) (*metadata.Node, error)
}

// The client satisfies API.
var _ API = (*client.Client)(nil)
