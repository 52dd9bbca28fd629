package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// Version is the driver_version get_volume_stats reports.
const Version = "1.0.0"

// API is the part of *client.Client the driver calls; tests may supply
// another implementation.
type API interface {
	Nodes(ctx context.Context, opts ...client.Option) ([]metadata.Node, error)
	Pools(ctx context.Context, vg string, opts ...client.Option) ([]metadata.Pool, error)
	Pool(ctx context.Context, vg, name string, opts ...client.Option) (*metadata.Pool, error)
	Volumes(ctx context.Context, vg string, lo client.ListOptions) (*api.VolumeList, error)
	Volume(ctx context.Context, vg, name string, opts ...client.Option) (*metadata.Volume, error)
	CreateVolume(ctx context.Context, vg string, req api.VolumeCreateRequest, opts ...client.Option) (*api.VolumeResponse, error)
	PatchVolume(ctx context.Context, vg, name string, req api.VolumePatchRequest) (*metadata.Volume, error)
	DeleteVolume(ctx context.Context, vg, name string, opts ...client.Option) (*api.VolumeResponse, error)
	CreateSnapshot(ctx context.Context, vg, name string, req api.SnapshotCreateRequest, opts ...client.Option) (*api.VolumeResponse, error)
	Revert(ctx context.Context, vg, name, snapshot string, opts ...client.Option) (*api.VolumeResponse, error)
	WaitOperation(ctx context.Context, id string) (*api.Operation, error)
	Export(ctx context.Context, vg, name string, opts ...client.Option) (*api.ExportInfo, error)
	SetActive(ctx context.Context, vg, name string, active bool) (*metadata.Volume, error)
}

var _ API = (*client.Client)(nil)

// Config is the backend's configuration (cinder.conf's backend section).
type Config struct {
	// VG is the thinraft VG the backend's volumes live in (volume_group).
	VG string
	// BackendName is volume_backend_name.
	BackendName string
	// Pools restricts placement and stats to these thinraft pools of the
	// VG; empty means every pool of the VG.
	Pools []string
	// ReservedPercentage is Cinder's reserved_percentage, reported as is:
	// the scheduler applies it on top of free_capacity_gb.
	ReservedPercentage int
	// MaxOverSubscriptionRatio is reported as is (default 20, Cinder's).
	MaxOverSubscriptionRatio float64
	// PoolReservePercent is the nodes' thinpool reserve (docs/thinpool.md:
	// creates are refused when free data or metadata is under it); it must
	// match the agents' policy (default 10, thinpool's default).
	PoolReservePercent int
	// OpTimeout bounds how long a call waits for the pool's agent to finish
	// the kernel work (default 2 minutes).
	OpTimeout time.Duration
	// Logger receives the driver's logs (default slog.Default()).
	Logger *slog.Logger
}

// Driver is a Cinder volume driver over a thinraft cluster. Its methods
// are safe for concurrent use.
type Driver struct {
	cfg Config
	api API
	log *slog.Logger

	mu    sync.Mutex
	stats *Stats
}

// New checks cfg and returns a driver calling the cluster through a.
func New(a API, cfg Config) (*Driver, error) {
	if a == nil {
		return nil, errors.New("driver: no API client")
	}
	if err := metadata.ValidateVGName(cfg.VG); err != nil {
		return nil, fmt.Errorf("driver: vg: %s; set the VG the backend uses", err.Message)
	}
	if cfg.BackendName == "" {
		cfg.BackendName = "thinraft"
	}
	if cfg.ReservedPercentage < 0 || cfg.ReservedPercentage > 100 {
		return nil, fmt.Errorf("driver: reserved_percentage %d: want 0..100", cfg.ReservedPercentage)
	}
	if cfg.PoolReservePercent < 0 || cfg.PoolReservePercent >= 100 {
		return nil, fmt.Errorf("driver: pool reserve %d%%: want 0..99 (the agents' thinpool reserve)", cfg.PoolReservePercent)
	}
	if cfg.PoolReservePercent == 0 {
		cfg.PoolReservePercent = 10
	}
	if cfg.MaxOverSubscriptionRatio < 0 {
		return nil, fmt.Errorf("driver: max_over_subscription_ratio %v: want >= 1", cfg.MaxOverSubscriptionRatio)
	}
	if cfg.MaxOverSubscriptionRatio == 0 {
		cfg.MaxOverSubscriptionRatio = 20
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Driver{cfg: cfg, api: a, log: cfg.Logger.With("backend", cfg.BackendName, "vg", cfg.VG)}, nil
}

// Config returns the driver's configuration with defaults filled in.
func (d *Driver) Config() Config { return d.cfg }

// Names, as Cinder's LVM driver forms them: the volume's LV is its
// volume['name'] ("volume-<id>"), a snapshot's LV is snapshot['name'] with
// an underscore in front ("_snapshot-<id>"), because LVM (and thinraft)
// reserve names starting with "snapshot".

// VolumeName is the LV name of a Cinder volume.
func VolumeName(v Volume) string {
	if v.Name != "" {
		return v.Name
	}
	return "volume-" + v.ID
}

// SnapshotName is the LV name of a Cinder snapshot.
func SnapshotName(s Snapshot) string {
	n := s.Name
	if n == "" {
		n = "snapshot-" + s.ID
	}
	if strings.HasPrefix(n, "snapshot") {
		return "_" + n
	}
	return n
}

// snapshotSource is the LV name of a snapshot's source volume.
func snapshotSource(s Snapshot) string {
	if s.VolumeName != "" {
		return s.VolumeName
	}
	return "volume-" + s.VolumeID
}

// uuidOf returns id when it is in the API's uuid form, so that the Cinder
// id is the thinraft uuid and a repeated create is recognised as a retry;
// otherwise "" (the client picks one).
func uuidOf(id string) string {
	if len(id) != 36 {
		return ""
	}
	for i := 0; i < 36; i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return ""
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return ""
			}
		}
	}
	return strings.ToLower(id)
}

const gib = 1 << 30

func checkVolume(v Volume, what string) error {
	if v.ID == "" {
		return errorf(KindInvalid, "%s: volume id is required", what)
	}
	if v.Size <= 0 {
		return errorf(KindInvalid, "%s: volume %s: size %d GiB: want a positive number of GiB", what, v.ID, v.Size)
	}
	if v.Size > metadata.MaxSizeBytes/gib {
		return errorf(KindInvalid, "%s: volume %s: size %d GiB is too large", what, v.ID, v.Size)
	}
	return nil
}

func checkSnapshot(s Snapshot, what string) error {
	if s.ID == "" {
		return errorf(KindInvalid, "%s: snapshot id is required", what)
	}
	if s.VolumeID == "" && s.VolumeName == "" {
		return errorf(KindInvalid, "%s: snapshot %s: volume_id is required", what, s.ID)
	}
	return nil
}

// poolOfHost returns the pool part of Cinder's "host@backend#pool".
func poolOfHost(host string) string {
	if i := strings.LastIndexByte(host, '#'); i >= 0 {
		return host[i+1:]
	}
	return ""
}

// waitSlice is how long one write asks the leader to wait for its
// operation before the driver long-polls it.
const waitSlice = 30 * time.Second

// finish waits until the operation a write started is done. A write whose
// wait ran out long-polls the operation up to OpTimeout.
func (d *Driver) finish(ctx context.Context, r *api.VolumeResponse) error {
	if r == nil || r.Operation == nil || r.Operation.State == api.OpDone {
		return nil
	}
	if r.Operation.State == api.OpAbandoned {
		return &client.Error{Code: client.ErrAbandoned.Code, Message: fmt.Sprintf("operation %s abandoned: %s", r.Operation.ID, r.Operation.Reason)}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OpTimeout)
	defer cancel()
	_, err := d.api.WaitOperation(ctx, r.Operation.ID)
	return err
}

func (d *Driver) wait() client.Option { return client.Wait(min(waitSlice, d.cfg.OpTimeout)) }

// settle waits for a volume found in a transient state (a retried create
// whose first attempt is still running) to leave it, polling with backoff.
func (d *Driver) settle(ctx context.Context, name string) (*metadata.Volume, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OpTimeout)
	defer cancel()
	backoff := 50 * time.Millisecond
	for {
		v, err := d.api.Volume(ctx, d.cfg.VG, name)
		if err != nil {
			return nil, err
		}
		switch v.State {
		case metadata.VolumeActive, metadata.VolumeFailed:
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, errorf(KindBusy, "volume %s/%s is still %s after %v", d.cfg.VG, name, v.State, d.cfg.OpTimeout)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// lookup returns the named volume, or nil when there is none.
func (d *Driver) lookup(ctx context.Context, name string) (*metadata.Volume, error) {
	v, err := d.api.Volume(ctx, d.cfg.VG, name)
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err, "look up %s/%s", d.cfg.VG, name)
	}
	return v, nil
}
