package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/metadata"
)

// ErrNotHere: the volume's pool is not open on this node (another node
// owns it, or the agent has not opened it yet).
var ErrNotHere = errors.New("volume's pool is not open on this node")

// OpenVolume activates a volume's thin device and opens it for IO (the NBD
// export's backend). The volume must be active in the local replica and
// its pool open on this agent.
func (a *Agent) OpenVolume(ctx context.Context, uuid string) (dm.BlockDevice, error) {
	vol, ok := a.cfg.FSM.Volume(uuid)
	switch {
	case !ok:
		return nil, fmt.Errorf("volume %s: %w", uuid, &metadata.Error{Code: metadata.CodeNotFound, Message: "no such volume"})
	case vol.State != metadata.VolumeActive || vol.ThinID == 0:
		return nil, fmt.Errorf("volume %s/%s: %w", vol.VG, vol.Name,
			&metadata.Error{Code: metadata.CodeConflict, Message: fmt.Sprintf("state %s: only active volumes can be opened", vol.State)})
	}
	run := a.pool(vol.Pool)
	if run == nil {
		return nil, fmt.Errorf("volume %s/%s in pool %s: %w", vol.VG, vol.Name, vol.Pool, ErrNotHere)
	}
	return run.pool.OpenThin(ctx, vol.ThinID)
}

// CloseVolume deactivates a volume's thin device (after its users closed
// it), so a delete is not refused as busy.
func (a *Agent) CloseVolume(ctx context.Context, uuid string) error {
	vol, ok := a.cfg.FSM.Volume(uuid)
	if !ok || vol.ThinID == 0 {
		return nil
	}
	run := a.pool(vol.Pool)
	if run == nil {
		return fmt.Errorf("volume %s/%s in pool %s: %w", vol.VG, vol.Name, vol.Pool, ErrNotHere)
	}
	return run.pool.DeactivateThin(ctx, vol.ThinID)
}
