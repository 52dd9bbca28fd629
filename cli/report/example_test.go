package report_test

import (
	"os"

	"github.com/thinraft/thinraft/cli/report"
	"github.com/thinraft/thinraft/metadata"
)

// The cli's lvs: build the rows of the model, keep the ones asked for, and
// print them with the user's options.
func ExampleLVs() {
	pools := []metadata.Pool{{UUID: "p0", VG: "vg0", Name: "pool0", Node: "n1", ChunkSectors: 128,
		DataBytes: 10 << 30, MetaBytes: 16 << 20, Zero: true, State: metadata.PoolActive,
		Usage: metadata.Usage{DataUsed: 44170, DataTotal: 163840, MetaUsed: 508, MetaTotal: 4096}}}
	vols := []metadata.Volume{{UUID: "v1", VG: "vg0", Name: "thin1", Pool: "p0", ThinID: 1, SizeBytes: 1 << 40,
		State: metadata.VolumeActive, Active: true, ExclusiveBytes: 1 << 30}}
	nodes := []metadata.Node{{ID: "n1", Name: "node1", State: metadata.NodeUp}}
	rows := report.BuildLVRows(pools, vols, nodes, false)
	err := report.LVs(os.Stdout, rows, report.Options{
		Fields: []string{"lv_name,lv_attr,lv_size,data_percent", "+exclusive_bytes"}, Format: report.FormatJSON})
	if err != nil {
		panic(err)
	}
	// Output:
	//   {
	//       "report": [
	//           {
	//               "lv": [
	//                   {"lv_name":"pool0", "lv_attr":"twi-aotz--", "lv_size":"10.00g", "data_percent":"26.96", "exclusive_bytes":""},
	//                   {"lv_name":"thin1", "lv_attr":"Vwi-a-tz--", "lv_size":"1.00t", "data_percent":"0.10", "exclusive_bytes":"1.00g"}
	//               ]
	//           }
	//       ]
	//   }
}
