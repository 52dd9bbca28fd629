package api

// ExportInfo is GET /v1/vgs/{vg}/volumes/{name}/export: where an NBD client
// reaches the volume. Node is the node of the volume's pool, which serves
// the export; Address is that node's NBD address as clients dial it.
type ExportInfo struct {
	Node    string `json:"node"`
	Address string `json:"address"`
	// Export is the NBD export name, "<vg>/<name>". The volume's uuid is an
	// alias that survives renames.
	Export string `json:"export"`
	// URI is the NBD URI (nbd://address/export) qemu-img, qemu-io, nbdcopy
	// and nbdinfo take.
	URI string `json:"uri"`
	// Active is the volume's desired activation; Open whether a client had
	// the export open at the pool agent's last report.
	Active bool `json:"active"`
	Open   bool `json:"open"`
}
