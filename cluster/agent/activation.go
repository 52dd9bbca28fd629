package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool/nbd"
)

// Activation and NBD export of the node's volumes (docs/agent.md).
//
// Every volume of an open pool of this node whose record says Active and
// whose state is active is exported as "<vg>/<name>" and under its uuid.
// Its thin device is activated when the first client asks for the export
// (Lookup), not when the record says Active: an activated device costs a
// dm device, an open handle and a metadata walk (the BLOCK_STATUS map), and
// a node with 100,000 active volumes must not pay that for volumes nobody
// reads. Once activated, the device stays active and exported until the
// record no longer wants it (deactivated, deleting, reverted to another
// thin id, made read-only or writable, pool moved); then, before any intent
// of the step runs, its clients are disconnected (after their requests are
// answered and flushed), the device closed and removed. A delete therefore
// never finds the device busy.
//
// Whether a client has an export open is reported as VolumeUsage.Open in a
// pool_report_usage sent as soon as the count changes between none and
// some (not only on the report interval), so that deactivate and delete
// are refused while a volume is in use, and allowed promptly after.

// unexportTimeout bounds how long a retired export's clients may take to
// finish their requests before they are cut off.
const unexportTimeout = 10 * time.Second

// exports is the agent's export state.
type exports struct {
	mu sync.Mutex
	// served are the activated, exported volumes, by uuid.
	served map[string]*served
	// dirty are the pools whose volumes' open state may differ from the
	// record; checked those whose record was compared once since start.
	dirty   map[string]bool
	checked map[string]bool
	// poke wakes the Run loop to report open-state changes.
	poke chan struct{}
}

// served is one activated volume's export.
type served struct {
	uuid string
	pool string
	thin uint32
	exp  *nbd.Export
}

func newExports() exports {
	return exports{served: map[string]*served{}, dirty: map[string]bool{}, checked: map[string]bool{}, poke: make(chan struct{}, 1)}
}

// Exports is the node's NBD export source, for an nbd server
// (nbd.NewSourceServer) on the node's NBD listener.
func (a *Agent) Exports() nbd.Source { return exportSource{a} }

type exportSource struct{ a *Agent }

// Lookup resolves "<vg>/<name>" or a volume uuid to the volume's export,
// activating its device on first use.
func (s exportSource) Lookup(ctx context.Context, name string) (*nbd.Export, error) {
	return s.a.lookupExport(ctx, name)
}

// Names lists the exportable volumes as "<vg>/<name>".
func (s exportSource) Names() []string { return s.a.exportNames() }

// exportable tells whether the record wants vol served by this agent.
func (a *Agent) exportable(vol metadata.Volume) bool {
	if !vol.Active || vol.State != metadata.VolumeActive || vol.ThinID == 0 {
		return false
	}
	p, ok := a.recordPool(vol.Pool)
	return ok && p.Node == a.cfg.Node
}

func (a *Agent) resolveExport(name string) (metadata.Volume, bool) {
	if vg, vname, ok := strings.Cut(name, "/"); ok {
		return a.cfg.FSM.VolumeByName(vg, vname)
	}
	return a.cfg.FSM.Volume(name)
}

func (a *Agent) lookupExport(ctx context.Context, name string) (*nbd.Export, error) {
	vol, ok := a.resolveExport(name)
	if !ok {
		return nil, fmt.Errorf("%w: no volume %q", nbd.ErrUnknownExport, name)
	}
	if !a.exportable(vol) {
		return nil, fmt.Errorf("%w: volume %s/%s is not active here (active %v, state %s)", nbd.ErrUnknownExport, vol.VG, vol.Name, vol.Active, vol.State)
	}
	run := a.pool(vol.Pool)
	if run == nil {
		return nil, fmt.Errorf("%w: volume %s/%s: %w", nbd.ErrUnknownExport, vol.VG, vol.Name, ErrNotHere)
	}
	a.x.mu.Lock()
	defer a.x.mu.Unlock()
	if s := a.x.served[vol.UUID]; s != nil {
		if s.thin == vol.ThinID && s.exp.ReadOnly == vol.ReadOnly {
			return s.exp, nil
		}
		// The record moved on; the next step retires the old export.
		return nil, fmt.Errorf("%w: volume %s/%s is changing; retry", nbd.ErrUnknownExport, vol.VG, vol.Name)
	}
	dev, err := a.OpenVolume(ctx, vol.UUID)
	if err != nil {
		return nil, fmt.Errorf("activate %s/%s: %w", vol.VG, vol.Name, err)
	}
	exp, err := nbd.ThinDeviceExport(ctx, run.pool, vol.ThinID, dev, vol.VG+"/"+vol.Name)
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("export %s/%s: %w", vol.VG, vol.Name, err)
	}
	exp.ReadOnly = vol.ReadOnly
	pool := vol.Pool
	exp.OnClients = func() { a.openChanged(pool) }
	a.x.served[vol.UUID] = &served{uuid: vol.UUID, pool: vol.Pool, thin: vol.ThinID, exp: exp}
	a.log.Info("volume activated for NBD", "volume", vol.UUID, "export", exp.Name, "thin", vol.ThinID, "read_only", vol.ReadOnly)
	return exp, nil
}

func (a *Agent) exportNames() []string {
	var names []string
	for _, run := range a.runs() {
		var vols []metadata.Volume
		a.cfg.FSM.Read(func(v metadata.View) { vols = v.VolumesOfPool(run.pool.Name()) })
		for _, v := range vols {
			if a.exportable(v) {
				names = append(names, v.VG+"/"+v.Name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// openChanged notes that a pool's open state changed and wakes Run.
func (a *Agent) openChanged(pool string) {
	a.x.mu.Lock()
	a.x.dirty[pool] = true
	a.x.mu.Unlock()
	select {
	case a.x.poke <- struct{}{}:
	default:
	}
}

// openVolumes are the pool's volumes a client has open now.
func (a *Agent) openVolumes(pool string) map[string]bool {
	a.x.mu.Lock()
	defer a.x.mu.Unlock()
	out := map[string]bool{}
	for uuid, s := range a.x.served {
		if s.pool == pool && s.exp.Clients() > 0 {
			out[uuid] = true
		}
	}
	return out
}

// retireExports unexports the activated volumes the record no longer wants
// served as they are. It runs before the step, so that intents (delete,
// revert) never find the devices busy.
func (a *Agent) retireExports(ctx context.Context) {
	a.x.mu.Lock()
	var stale []*served
	for uuid, s := range a.x.served {
		vol, ok := a.cfg.FSM.Volume(uuid)
		if ok && a.exportable(vol) && vol.ThinID == s.thin && vol.ReadOnly == s.exp.ReadOnly {
			continue
		}
		delete(a.x.served, uuid)
		stale = append(stale, s)
	}
	a.x.mu.Unlock()
	for _, s := range stale {
		a.unexport(ctx, s, true)
	}
}

// unexport ends an export's connections, closes its device and, when
// deactivate is set, removes the thin device.
func (a *Agent) unexport(ctx context.Context, s *served, deactivate bool) {
	sctx, cancel := context.WithTimeout(ctx, unexportTimeout)
	err := s.exp.Stop(sctx)
	cancel()
	if err != nil {
		a.log.Warn("export's clients cut off", "volume", s.uuid, "export", s.exp.Name, "err", err)
	}
	if err := s.exp.Close(); err != nil {
		a.log.Warn("close an export's device", "volume", s.uuid, "err", err)
	}
	if deactivate {
		if run := a.pool(s.pool); run != nil {
			if err := run.pool.DeactivateThin(ctx, s.thin); err != nil {
				a.log.Warn("deactivate a retired export's device", "volume", s.uuid, "thin", s.thin, "err", err)
			}
		}
		a.forget(s.uuid)
		a.log.Info("volume unexported and deactivated", "volume", s.uuid, "export", s.exp.Name, "thin", s.thin)
	}
	// The record may still say open.
	a.openChanged(s.pool)
}

// closeExports ends every export when the agent stops; the devices stay
// active, like the pools.
func (a *Agent) closeExports() {
	a.x.mu.Lock()
	all := make([]*served, 0, len(a.x.served))
	for uuid, s := range a.x.served {
		all = append(all, s)
		delete(a.x.served, uuid)
	}
	a.x.mu.Unlock()
	for _, s := range all {
		sctx, cancel := context.WithTimeout(context.Background(), unexportTimeout)
		if err := s.exp.Stop(sctx); err != nil {
			a.log.Warn("export's clients cut off at stop", "volume", s.uuid, "err", err)
		}
		cancel()
		if err := s.exp.Close(); err != nil {
			a.log.Warn("close an export's device", "volume", s.uuid, "err", err)
		}
	}
}

// reportOpen sends a usage report for every pool whose open state changed,
// and for every newly opened pool whose record says a volume is open that
// nobody has open here (left over from before a restart).
func (a *Agent) reportOpen(ctx context.Context) {
	for _, run := range a.runs() {
		uuid := run.pool.Name()
		a.x.mu.Lock()
		check := !a.x.checked[uuid]
		a.x.checked[uuid] = true
		a.x.mu.Unlock()
		if !check {
			continue
		}
		open := a.openVolumes(uuid)
		for _, v := range a.volumesOfPool(uuid) {
			if v.Open && !open[v.UUID] {
				a.openChanged(uuid)
				break
			}
		}
	}
	a.x.mu.Lock()
	dirty := a.x.dirty
	a.x.dirty = map[string]bool{}
	a.x.mu.Unlock()
	for uuid := range dirty {
		run := a.pool(uuid)
		if run == nil || ctx.Err() != nil {
			continue
		}
		// Failures are left to the interval's report, which carries the
		// open state too.
		if err := a.report(ctx, run); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Warn("open-state report", "pool", uuid, "err", err)
		}
	}
}
