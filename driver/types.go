package driver

// Cinder's dict shapes, as the volume manager passes them to a driver and as
// the HTTP endpoints carry them. Only the fields a call reads are listed;
// the decoder refuses others, so a misspelt key is an error, not a default.

// Volume is Cinder's volume object. Name is the backend name Cinder derives
// from its volume_name_template ("volume-<id>"); when absent the driver
// derives it the same way.
type Volume struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
	Name string `json:"name,omitempty"`
	// Host is the scheduler's placement "host@backend#pool"; the pool part
	// names the thinraft pool.
	Host             string `json:"host,omitempty"`
	DisplayName      string `json:"display_name,omitempty"`
	Status           string `json:"status,omitempty"`
	VolumeTypeID     string `json:"volume_type_id,omitempty"`
	ProviderLocation string `json:"provider_location,omitempty"`
	Multiattach      bool   `json:"multiattach,omitempty"`
}

// Snapshot is Cinder's snapshot object. Name is "snapshot-<id>" (Cinder's
// snapshot_name_template); VolumeName that of the source volume.
type Snapshot struct {
	ID          string `json:"id"`
	VolumeID    string `json:"volume_id"`
	VolumeSize  int64  `json:"volume_size"`
	Name        string `json:"name,omitempty"`
	VolumeName  string `json:"volume_name,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Status      string `json:"status,omitempty"`
}

// Connector is os-brick's connector properties (initiator, ip, host,
// multipath, platform, ...): free-form, recorded in logs only, since NBD
// has no initiator access list.
type Connector map[string]any

// ExistingRef is manage_existing's reference: {"source-name": "<lv>"}.
type ExistingRef map[string]any

// ModelUpdate is what a Cinder call returns for the volume manager to
// store on the volume (provider_location, ...); nil for nothing.
type ModelUpdate map[string]any

// ConnectionInfo is initialize_connection's answer.
type ConnectionInfo struct {
	DriverVolumeType string         `json:"driver_volume_type"`
	Data             ConnectionData `json:"data"`
}

// ConnectionData is where and how to reach the volume over NBD.
type ConnectionData struct {
	// Host and Port are the NBD server of the node owning the volume's pool.
	Host string `json:"host"`
	Port int    `json:"port"`
	// ExportName is the NBD export name ("<vg>/<lv>").
	ExportName string `json:"export_name"`
	// URI is the NBD URI qemu and libnbd tools take.
	URI        string `json:"uri"`
	Node       string `json:"node"`
	VolumeID   string `json:"volume_id"`
	AccessMode string `json:"access_mode"`
	// Discard: the export takes TRIM (thin space is given back).
	Discard bool `json:"discard"`
}

// Stats is get_volume_stats' answer, with Cinder's keys.
type Stats struct {
	VolumeBackendName string      `json:"volume_backend_name"`
	VendorName        string      `json:"vendor_name"`
	DriverVersion     string      `json:"driver_version"`
	StorageProtocol   string      `json:"storage_protocol"`
	Pools             []PoolStats `json:"pools"`
}

// PoolStats is one Cinder pool (one thinraft pool).
type PoolStats struct {
	PoolName                 string  `json:"pool_name"`
	TotalCapacityGB          float64 `json:"total_capacity_gb"`
	FreeCapacityGB           float64 `json:"free_capacity_gb"`
	ProvisionedCapacityGB    float64 `json:"provisioned_capacity_gb"`
	MaxOverSubscriptionRatio float64 `json:"max_over_subscription_ratio"`
	ThinProvisioningSupport  bool    `json:"thin_provisioning_support"`
	ThickProvisioningSupport bool    `json:"thick_provisioning_support"`
	ReservedPercentage       int     `json:"reserved_percentage"`
	TotalVolumes             int     `json:"total_volumes"`
	LocationInfo             string  `json:"location_info"`
	QoSSupport               bool    `json:"QoS_support"`
	Multiattach              bool    `json:"multiattach"`
	BackendState             string  `json:"backend_state"`
}

// ManageableVolume is one entry of get_manageable_volumes.
type ManageableVolume struct {
	Reference     map[string]string `json:"reference"`
	Size          int64             `json:"size"`
	SafeToManage  bool              `json:"safe_to_manage"`
	ReasonNotSafe *string           `json:"reason_not_safe"`
	CinderID      *string           `json:"cinder_id"`
	ExtraInfo     *string           `json:"extra_info"`
}

// MigrateHost is migrate_volume's destination: {host, capabilities}.
type MigrateHost struct {
	Host         string         `json:"host"`
	Capabilities map[string]any `json:"capabilities,omitempty"`
}
