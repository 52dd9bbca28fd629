package driver

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/thinraft/thinraft/cluster/client"
)

// Exports. A thinraft volume is served over NBD by its pool's node while
// its record says Active (docs/nbd.md). Cinder's export calls map onto
// that activation; initialize_connection answers where the export is.

// InitializeConnection is initialize_connection: it makes sure the volume
// is active and answers its NBD export (driver_volume_type "nbd"). NBD has
// no initiator list, so the connector is only logged.
func (d *Driver) InitializeConnection(ctx context.Context, v Volume, conn Connector) (*ConnectionInfo, error) {
	name := VolumeName(v)
	if v.ID == "" && v.Name == "" {
		return nil, errorf(KindInvalid, "initialize_connection: volume id is required")
	}
	vol, err := d.api.SetActive(ctx, d.cfg.VG, name, true)
	if err != nil {
		return nil, wrap(err, "initialize_connection %s: activate", name)
	}
	exp, err := d.api.Export(ctx, d.cfg.VG, name)
	if err != nil {
		return nil, wrap(err, "initialize_connection %s: export", name)
	}
	if exp.Address == "" {
		return nil, errorf(KindUnavailable, "initialize_connection %s: node %s serves no NBD; set nbd_bind in its configuration and restart it", name, exp.Node)
	}
	host, ps, err := net.SplitHostPort(exp.Address)
	if err != nil {
		return nil, errorf(KindBackend, "initialize_connection %s: node %s's NBD address %q: %v", name, exp.Node, exp.Address, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return nil, errorf(KindBackend, "initialize_connection %s: node %s's NBD port %q: %v", name, exp.Node, ps, err)
	}
	mode := "rw"
	if vol.ReadOnly {
		mode = "ro"
	}
	d.log.Info("initialize_connection", "volume", name, "export", exp.URI, "connector_host", conn["host"], "connector_ip", conn["ip"])
	return &ConnectionInfo{DriverVolumeType: "nbd", Data: ConnectionData{Host: host, Port: port, ExportName: exp.Export,
		URI: exp.URI, Node: exp.Node, VolumeID: v.ID, AccessMode: mode, Discard: true}}, nil
}

// TerminateConnection is terminate_connection. The NBD client closes its
// own connection; nothing on the server holds per-connector state, so
// this only logs. The export stays until remove_export.
func (d *Driver) TerminateConnection(ctx context.Context, v Volume, conn Connector, force bool) error {
	if v.ID == "" && v.Name == "" {
		return errorf(KindInvalid, "terminate_connection: volume id is required")
	}
	d.log.Info("terminate_connection", "volume", VolumeName(v), "connector_host", conn["host"], "force", force)
	return nil
}

// CreateExport is create_export: the volume is activated, and the model
// update's provider_location is its NBD URI.
func (d *Driver) CreateExport(ctx context.Context, v Volume, conn Connector) (ModelUpdate, error) {
	name := VolumeName(v)
	if v.ID == "" && v.Name == "" {
		return nil, errorf(KindInvalid, "create_export: volume id is required")
	}
	if _, err := d.api.SetActive(ctx, d.cfg.VG, name, true); err != nil {
		return nil, wrap(err, "create_export %s: activate", name)
	}
	exp, err := d.api.Export(ctx, d.cfg.VG, name)
	if err != nil {
		return nil, wrap(err, "create_export %s", name)
	}
	return ModelUpdate{"provider_location": exp.URI}, nil
}

// EnsureExport is ensure_export (called for every volume when the Cinder
// volume service starts): the volume is activated if it is not.
func (d *Driver) EnsureExport(ctx context.Context, v Volume) (ModelUpdate, error) {
	name := VolumeName(v)
	if v.ID == "" && v.Name == "" {
		return nil, errorf(KindInvalid, "ensure_export: volume id is required")
	}
	cur, err := d.api.Volume(ctx, d.cfg.VG, name)
	if err != nil {
		return nil, wrap(err, "ensure_export %s", name)
	}
	if !cur.Active {
		if _, err := d.api.SetActive(ctx, d.cfg.VG, name, true); err != nil {
			return nil, wrap(err, "ensure_export %s: activate", name)
		}
		d.log.Info("ensure_export: activated", "volume", name)
	}
	return nil, nil
}

// removeExportWait bounds how long remove_export waits for a client that
// just disconnected to be reported closed.
const removeExportWait = 15 * time.Second

// RemoveExport is remove_export: the volume is deactivated (its NBD export
// goes away). A volume that does not exist is taken as already removed.
// While an NBD client still has it open the agent's report may lag the
// disconnect, so a refusal is retried briefly before it is answered busy.
func (d *Driver) RemoveExport(ctx context.Context, v Volume) error {
	name := VolumeName(v)
	if v.ID == "" && v.Name == "" {
		return errorf(KindInvalid, "remove_export: volume id is required")
	}
	deadline := time.Now().Add(min(removeExportWait, d.cfg.OpTimeout))
	backoff := 100 * time.Millisecond
	for {
		_, err := d.api.SetActive(ctx, d.cfg.VG, name, false)
		switch {
		case err == nil:
			d.log.Info("remove_export", "volume", name)
			return nil
		case errors.Is(err, client.ErrNotFound):
			d.log.Warn("remove_export: volume not found, nothing to remove", "volume", name)
			return nil
		case !errors.Is(err, client.ErrConflict) || time.Now().After(deadline):
			return wrap(err, "remove_export %s", name)
		}
		select {
		case <-ctx.Done():
			return wrap(err, "remove_export %s", name)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}
