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
	dev, err := run.pool.OpenThin(ctx, vol.ThinID)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if e, ok := a.active[uuid]; !ok || e.thin != vol.ThinID {
		// Activation used the record's size of the moment.
		a.active[uuid] = activeThin{pool: vol.Pool, thin: vol.ThinID, sectors: toSectors(vol.SizeBytes)}
	}
	a.mu.Unlock()
	return dev, nil
}

// activeThin is a thin device the agent activated for IO and the length
// its table has.
type activeThin struct {
	pool    string
	thin    uint32
	sectors uint64
}

// followSizes reloads the tables of active devices whose volumes were
// extended (volume_extend changes only the record: a thin device's size
// is its table's length). Its cost is that of the devices open for IO.
func (a *Agent) followSizes(ctx context.Context) {
	a.mu.Lock()
	todo := make(map[string]activeThin, len(a.active))
	for k, v := range a.active {
		todo[k] = v
	}
	a.mu.Unlock()
	for uuid, e := range todo {
		vol, ok := a.cfg.FSM.Volume(uuid)
		if !ok || vol.ThinID != e.thin {
			a.forget(uuid)
			continue
		}
		want := toSectors(vol.SizeBytes)
		if want <= e.sectors {
			continue
		}
		run := a.pool(e.pool)
		if run == nil {
			continue
		}
		name := run.pool.ThinDMName(e.thin)
		table := dm.Table{dm.ThinParams{PoolDev: "/dev/mapper/" + run.pool.DMName(), ID: e.thin}.Target(want)}
		err := a.cfg.Control.Load(ctx, name, table)
		if err == nil {
			err = a.cfg.Control.Resume(ctx, name)
		}
		if errors.Is(err, dm.ErrDeviceNotFound) {
			a.forget(uuid) // deactivated behind our back: the next activation uses the record's size
			continue
		}
		if err != nil {
			a.log.Warn("resize an extended volume's device", "volume", uuid, "thin", e.thin, "err", err)
			continue
		}
		a.log.Info("volume device resized", "volume", uuid, "thin", e.thin, "from_sectors", e.sectors, "to_sectors", want)
		a.mu.Lock()
		if cur, ok := a.active[uuid]; ok && cur.thin == e.thin {
			cur.sectors = want
			a.active[uuid] = cur
		}
		a.mu.Unlock()
	}
}

func (a *Agent) forget(uuid string) {
	a.mu.Lock()
	delete(a.active, uuid)
	a.mu.Unlock()
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
	if err := run.pool.DeactivateThin(ctx, vol.ThinID); err != nil {
		return err
	}
	a.forget(uuid)
	return nil
}
