package dm

// MetadataDump is the content of a pool's metadata in the shape of
// thin_dump's XML (thin-provisioning-tools): the superblock, every thin
// device and its block mappings. It is the interchange format between the
// userspace engine and the kernel tools (thin_dump, thin_restore, thin_ls,
// thin_delta), and the form in which thinpool reads mappings and deltas from
// a held metadata root on either engine.
//
// Mappings are runs: DataBlock..DataBlock+Length-1 backs
// OriginBlock..OriginBlock+Length-1, all written at Time. A run of Length 1
// is a single_mapping in the XML, longer runs are range_mappings.
type MetadataDump struct {
	UUID             string
	Time             uint32
	Transaction      uint64
	Flags            uint32
	Version          uint32
	DataBlockSectors uint32
	NrDataBlocks     uint64
	// MetadataSnap is the held metadata root, or 0.
	MetadataSnap uint64
	Devices      []DeviceDump
}

// DeviceDump is one thin device in a MetadataDump.
type DeviceDump struct {
	ID           uint32
	MappedBlocks uint64
	Transaction  uint64
	CreationTime uint32
	SnapTime     uint32
	Mappings     []Mapping
}

// Mapping is a run of consecutive virtual blocks backed by consecutive data
// blocks, all with the same time stamp.
type Mapping struct {
	OriginBlock uint64
	DataBlock   uint64
	Length      uint64
	Time        uint32
}

// Device returns the device with id, or nil.
func (d *MetadataDump) Device(id uint32) *DeviceDump {
	for i := range d.Devices {
		if d.Devices[i].ID == id {
			return &d.Devices[i]
		}
	}
	return nil
}
