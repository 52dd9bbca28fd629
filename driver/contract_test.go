package driver_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/node/nodetest"
	"github.com/thinraft/thinraft/driver"
)

// ids of the Cinder objects the contract test plays with; {V1} in a step's
// args stands for ids["V1"]. They sort V1 < V2 < ... as names too.
var ids = map[string]string{
	"V1": "1a000000-0000-4000-8000-000000000001",
	"V2": "2a000000-0000-4000-8000-000000000002",
	"V3": "3a000000-0000-4000-8000-000000000003",
	"V4": "4a000000-0000-4000-8000-000000000004",
	"V5": "5a000000-0000-4000-8000-000000000005",
	"V6": "6a000000-0000-4000-8000-000000000006",
	"V9": "9a000000-0000-4000-8000-000000000009",
	"S1": "1b000000-0000-4000-8000-000000000001",
	"S9": "9b000000-0000-4000-8000-000000000009",
}

// statsKeys are the keys get_volume_stats must carry (Cinder's).
var statsKeys = []string{"volume_backend_name", "vendor_name", "driver_version", "storage_protocol=nbd",
	"pools.0.pool_name=pool0", "pools.0.total_capacity_gb", "pools.0.free_capacity_gb", "pools.0.provisioned_capacity_gb",
	"pools.0.max_over_subscription_ratio=20", "pools.0.thin_provisioning_support=true", "pools.0.thick_provisioning_support=false",
	"pools.0.reserved_percentage=5", "pools.0.total_volumes", "pools.0.location_info", "pools.0.QoS_support=false",
	"pools.0.multiattach=true", "pools.0.backend_state=up", "pools.1.pool_name=pool1"}

// step is one row of the contract: a driver call (or a test action: lv_create,
// write, read, await_free_drop) with its JSON arguments, the error kind it must
// fail with ("" = success), and checks on its result and on the cluster.
type step struct {
	name, call, args string
	// http sends the call through driver.Handler instead of the Go method.
	http bool
	err  driver.Kind
	// result: "path=value" or "path" (present) in the JSON result; "#=n"
	// is the length of a top-level list.
	result []string
	// lv names a volume of vg0 the following checks apply to.
	lv     string
	gone   bool
	size   int64 // GiB
	uuid   string
	pool   string
	active string // "y" or "n"
	tag    string
}

const (
	v1 = "volume-{V1}"
	s1 = `{"snapshot":{"id":"{S1}","volume_id":"{V1}","volume_size":1}}`
)

var contract = []step{
	{name: "stats before anything", call: "get_volume_stats", args: `{"refresh":true}`, result: append([]string{"pools.0.total_volumes=0"}, statsKeys...)},
	{name: "stats cached over HTTP", call: "get_volume_stats", args: `{}`, http: true, result: statsKeys},

	{name: "create", call: "create_volume", args: `{"volume":{"id":"{V1}","size":1,"host":"c1@thinraft#pool0"}}`, lv: v1, size: 1, uuid: "{V1}", pool: "pool0", active: "y"},
	{name: "create retried", call: "create_volume", args: `{"volume":{"id":"{V1}","size":1,"host":"c1@thinraft#pool0"}}`, lv: v1, size: 1, uuid: "{V1}"},
	{name: "create retried over HTTP", call: "create_volume", args: `{"volume":{"id":"{V1}","size":1,"host":"c1@thinraft#pool0"}}`, http: true, lv: v1, uuid: "{V1}"},
	{name: "create: name taken by another id", call: "create_volume", args: `{"volume":{"id":"{V9}","size":1,"name":"volume-{V1}"}}`, err: driver.KindExists},
	{name: "create: zero size", call: "create_volume", args: `{"volume":{"id":"{V9}","size":0}}`, err: driver.KindInvalid, lv: "volume-{V9}", gone: true},
	{name: "create: no id", call: "create_volume", args: `{"volume":{"size":1}}`, err: driver.KindInvalid},
	{name: "create: unknown pool", call: "create_volume", args: `{"volume":{"id":"{V9}","size":1,"host":"c1@thinraft#nopool"}}`, err: driver.KindNotFound, lv: "volume-{V9}", gone: true},
	{name: "create: unknown field", call: "create_volume", args: `{"volume":{"id":"{V9}","size":1,"sise":2}}`, err: driver.KindInvalid},
	{name: "create: no volume", call: "create_volume", args: `{}`, err: driver.KindInvalid},
	{name: "create: bad body over HTTP", call: "create_volume", args: `{"volume":`, http: true, err: driver.KindInvalid},
	{name: "stats count the volume", call: "get_volume_stats", args: `{"refresh":true}`, result: []string{"pools.0.total_volumes=1", "pools.0.provisioned_capacity_gb=1"}},

	{name: "snapshot", call: "create_snapshot", args: s1, lv: "_snapshot-{S1}", size: 1, uuid: "{S1}", pool: "pool0", active: "n"},
	{name: "snapshot retried", call: "create_snapshot", args: s1, lv: "_snapshot-{S1}", uuid: "{S1}"},
	{name: "snapshot of a missing volume", call: "create_snapshot", args: `{"snapshot":{"id":"{S9}","volume_id":"{V9}","volume_size":1}}`, err: driver.KindNotFound, lv: "_snapshot-{S9}", gone: true},

	{name: "volume from snapshot", call: "create_volume_from_snapshot", args: `{"volume":{"id":"{V2}","size":2},"snapshot":{"id":"{S1}","volume_id":"{V1}","volume_size":1}}`, lv: "volume-{V2}", size: 2, uuid: "{V2}", pool: "pool0", active: "y"},
	{name: "volume from snapshot retried", call: "create_volume_from_snapshot", args: `{"volume":{"id":"{V2}","size":2},"snapshot":{"id":"{S1}","volume_id":"{V1}","volume_size":1}}`, lv: "volume-{V2}", size: 2},
	{name: "volume from a missing snapshot", call: "create_volume_from_snapshot", args: `{"volume":{"id":"{V9}","size":1},"snapshot":{"id":"{S9}","volume_id":"{V1}","volume_size":1}}`, err: driver.KindNotFound, lv: "volume-{V9}", gone: true},

	{name: "clone", call: "create_cloned_volume", args: `{"volume":{"id":"{V3}","size":1},"src_vref":{"id":"{V1}","size":1}}`, lv: "volume-{V3}", size: 1, uuid: "{V3}", pool: "pool0", active: "y"},
	{name: "clone retried", call: "create_cloned_volume", args: `{"volume":{"id":"{V3}","size":1},"src_vref":{"id":"{V1}","size":1}}`, lv: "volume-{V3}", size: 1},
	{name: "clone of a missing volume", call: "create_cloned_volume", args: `{"volume":{"id":"{V9}","size":1},"src_vref":{"id":"{V9}","size":1}}`, err: driver.KindNotFound, lv: "volume-{V9}", gone: true},

	{name: "extend", call: "extend_volume", args: `{"volume":{"id":"{V1}","size":1},"new_size":3}`, lv: v1, size: 3},
	{name: "extend retried", call: "extend_volume", args: `{"volume":{"id":"{V1}","size":1},"new_size":3}`, lv: v1, size: 3},
	{name: "extend: shrink refused", call: "extend_volume", args: `{"volume":{"id":"{V1}","size":3},"new_size":2}`, err: driver.KindInvalid, lv: v1, size: 3},
	{name: "extend: zero", call: "extend_volume", args: `{"volume":{"id":"{V1}","size":3},"new_size":0}`, err: driver.KindInvalid},
	{name: "extend: missing volume", call: "extend_volume", args: `{"volume":{"id":"{V9}","size":1},"new_size":2}`, err: driver.KindNotFound},
	{name: "extend: no new_size", call: "extend_volume", args: `{"volume":{"id":"{V1}","size":3}}`, err: driver.KindInvalid},
	{name: "stats after clones", call: "get_volume_stats", args: `{"refresh":true}`, result: []string{"pools.0.total_volumes=4", "pools.0.provisioned_capacity_gb=7", "pools.1.total_volumes=0"}},

	{name: "connect", call: "initialize_connection", args: `{"volume":{"id":"{V1}","size":3},"connector":{"host":"compute1","ip":"127.0.0.1","initiator":"iqn.x"}}`,
		result: []string{"driver_volume_type=nbd", "data.host=127.0.0.1", "data.port", "data.export_name=vg0/volume-{V1}", "data.uri", "data.node=n1", "data.access_mode=rw", "data.volume_id={V1}"}, lv: v1, active: "y"},
	{name: "connect retried over HTTP", call: "initialize_connection", args: `{"volume":{"id":"{V1}","size":3},"connector":{"host":"compute1"}}`, http: true, result: []string{"driver_volume_type=nbd", "data.export_name=vg0/volume-{V1}"}},
	{name: "connect: missing volume", call: "initialize_connection", args: `{"volume":{"id":"{V9}","size":1},"connector":{}}`, err: driver.KindNotFound},
	{name: "write 64 MiB through NBD", call: "write", args: `{"volume":"volume-{V1}","mib":64,"pattern":"0xab"}`},
	{name: "read it back", call: "read", args: `{"volume":"volume-{V1}","mib":64,"pattern":"0xab"}`},
	{name: "disconnect", call: "terminate_connection", args: `{"volume":{"id":"{V1}","size":3},"connector":{"host":"compute1"}}`},
	{name: "free capacity drops after the write", call: "await_free_drop", args: `{"pool":"pool0"}`},
	{name: "create placed in the pool with the most free space", call: "create_volume", args: `{"volume":{"id":"{V5}","size":1}}`, lv: "volume-{V5}", pool: "pool1", uuid: "{V5}"},

	{name: "revert", call: "revert_to_snapshot", args: `{"volume":{"id":"{V1}","size":3},"snapshot":{"id":"{S1}","volume_id":"{V1}","volume_size":1}}`, lv: v1, size: 3},
	{name: "reverted content is the snapshot's", call: "read", args: `{"volume":"volume-{V1}","mib":64,"pattern":"0x00"}`},
	{name: "revert retried", call: "revert_to_snapshot", args: `{"volume":{"id":"{V1}","size":3},"snapshot":{"id":"{S1}","volume_id":"{V1}","volume_size":1}}`, lv: v1, size: 3},
	{name: "revert to a missing snapshot", call: "revert_to_snapshot", args: `{"volume":{"id":"{V1}","size":3},"snapshot":{"id":"{S9}","volume_id":"{V1}","volume_size":1}}`, err: driver.KindNotFound},

	{name: "remove export", call: "remove_export", args: `{"volume":{"id":"{V1}","size":3}}`, lv: v1, active: "n"},
	{name: "remove export retried", call: "remove_export", args: `{"volume":{"id":"{V1}","size":3}}`, lv: v1, active: "n"},
	{name: "create export", call: "create_export", args: `{"volume":{"id":"{V1}","size":3},"connector":{"host":"compute1"}}`, result: []string{"provider_location=nbd://"}, lv: v1, active: "y"},
	{name: "remove export over HTTP", call: "remove_export", args: `{"volume":{"id":"{V1}","size":3}}`, http: true, lv: v1, active: "n"},
	{name: "ensure export", call: "ensure_export", args: `{"volume":{"id":"{V1}","size":3}}`, lv: v1, active: "y"},
	{name: "remove export of a missing volume", call: "remove_export", args: `{"volume":{"id":"{V9}","size":1}}`},
	{name: "ensure export of a missing volume", call: "ensure_export", args: `{"volume":{"id":"{V9}","size":1}}`, err: driver.KindNotFound},

	{name: "migrate: not supported", call: "migrate_volume", args: `{"volume":{"id":"{V1}","size":3},"host":{"host":"c2@thinraft#pool1"}}`, err: driver.KindNotSupported, lv: v1, pool: "pool0"},
	{name: "migrate over HTTP: 501", call: "migrate_volume", args: `{"volume":{"id":"{V1}","size":3},"host":{"host":"c2@thinraft#pool1","capabilities":{}}}`, http: true, err: driver.KindNotSupported},

	{name: "a volume Cinder does not know", call: "lv_create", args: `{"name":"legacy1","pool":"pool1","mib":1536}`},
	{name: "create: the VG's volume quota (6) is reached", call: "create_volume", args: `{"volume":{"id":"{V6}","size":1}}`, err: driver.KindNoSpace, lv: "volume-{V6}", gone: true},
	{name: "manageable size", call: "manage_existing_get_size", args: `{"volume":{"id":"{V4}","size":0},"existing_ref":{"source-name":"legacy1"}}`, result: []string{"size=2"}},
	{name: "manageable size: missing", call: "manage_existing_get_size", args: `{"volume":{"id":"{V4}","size":0},"existing_ref":{"source-name":"nothere"}}`, err: driver.KindInvalidRef},
	{name: "manageable list, first page", call: "get_manageable_volumes", args: `{"cinder_volumes":[{"id":"{V1}","size":3},{"id":"{V2}","size":2}],"limit":1,"sort_keys":["reference"],"sort_dirs":["asc"]}`,
		result: []string{"#=1", "0.reference.source-name=legacy1", "0.size=2", "0.safe_to_manage=true", "0.cinder_id=<nil>"}},
	{name: "manageable list after the marker", call: "get_manageable_volumes", args: `{"cinder_volumes":[{"id":"{V1}","size":3},{"id":"{V2}","size":2}],"marker":{"source-name":"legacy1"},"limit":2}`,
		result: []string{"#=2", "0.reference.source-name=volume-{V1}", "0.safe_to_manage=false", "0.reason_not_safe=Already managed", "0.cinder_id={V1}", "1.cinder_id={V2}"}},
	{name: "manageable list by size, descending, offset", call: "get_manageable_volumes", args: `{"sort_keys":["size","reference"],"sort_dirs":["desc","asc"],"offset":2,"limit":1}`, http: true,
		result: []string{"#=1", "0.reference.source-name=volume-{V2}"}},
	{name: "manageable list: bad sort key", call: "get_manageable_volumes", args: `{"sort_keys":["name"]}`, err: driver.KindInvalid},
	{name: "manageable list: unknown marker", call: "get_manageable_volumes", args: `{"marker":{"source-name":"nothere"}}`, err: driver.KindInvalid},
	{name: "manage", call: "manage_existing", args: `{"volume":{"id":"{V4}","size":2},"existing_ref":{"source-name":"legacy1"}}`, lv: "volume-{V4}", size: 2, pool: "pool1", tag: "cinder-id:{V4}"},
	{name: "manage retried", call: "manage_existing", args: `{"volume":{"id":"{V4}","size":2},"existing_ref":{"source-name":"legacy1"}}`, lv: "legacy1", gone: true},
	{name: "manage: missing reference", call: "manage_existing", args: `{"volume":{"id":"{V6}","size":1},"existing_ref":{"source-name":"nothere"}}`, err: driver.KindInvalidRef},
	{name: "manage: no source-name", call: "manage_existing", args: `{"volume":{"id":"{V6}","size":1},"existing_ref":{"source-id":"x"}}`, err: driver.KindInvalidRef},
	{name: "manage: already managed", call: "manage_existing", args: `{"volume":{"id":"{V6}","size":1},"existing_ref":{"source-name":"volume-{V1}"}}`, err: driver.KindAlreadyManaged, lv: v1, uuid: "{V1}"},

	{name: "an NBD client opens the clone", call: "hold", args: `{"volume":"volume-{V3}"}`},
	{name: "delete: in use", call: "delete_volume", args: `{"volume":{"id":"{V3}","size":1}}`, err: driver.KindBusy, lv: "volume-{V3}", active: "y"},
	{name: "the client disconnects", call: "release", args: `{"volume":"volume-{V3}"}`},

	{name: "delete snapshot", call: "delete_snapshot", args: s1, lv: "_snapshot-{S1}", gone: true},
	{name: "delete snapshot retried", call: "delete_snapshot", args: s1, lv: "_snapshot-{S1}", gone: true},
	{name: "delete", call: "delete_volume", args: `{"volume":{"id":"{V2}","size":2}}`, lv: "volume-{V2}", gone: true},
	{name: "delete retried", call: "delete_volume", args: `{"volume":{"id":"{V2}","size":2}}`, lv: "volume-{V2}", gone: true},
	{name: "delete clone", call: "delete_volume", args: `{"volume":{"id":"{V3}","size":1}}`, lv: "volume-{V3}", gone: true},
	{name: "delete managed", call: "delete_volume", args: `{"volume":{"id":"{V4}","size":2}}`, lv: "volume-{V4}", gone: true},
	{name: "delete placed", call: "delete_volume", args: `{"volume":{"id":"{V5}","size":1}}`, http: true, lv: "volume-{V5}", gone: true},
	{name: "delete origin over HTTP", call: "delete_volume", args: `{"volume":{"id":"{V1}","size":3}}`, http: true, lv: v1, gone: true},
	{name: "delete: no id", call: "delete_volume", args: `{"volume":{"size":1}}`, err: driver.KindInvalid},
	{name: "unknown call over HTTP", call: "create_volumes", args: `{}`, http: true, err: driver.KindNotFound},
	{name: "stats after cleanup", call: "get_volume_stats", args: `{"refresh":true}`, result: []string{"pools.0.total_volumes=0", "pools.1.total_volumes=0", "pools.0.provisioned_capacity_gb=0"}},
}

// TestDriverContract runs the contract table in order against a 3-node
// cluster (agents on the userspace engine) with two pools, pool0 on n1
// (256 MiB) and pool1 on n2 (224 MiB), in a VG limited to 6 volumes.
func TestDriverContract(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	// Agents report usage every second so the driver's stats follow
	// writes quickly; the nodes serve NBD for initialize_connection.
	tc := nodetest.Start(t, 3, nodetest.Options{NBD: true, ReportInterval: time.Second})
	cl := tc.Client()
	tc.WaitReady(ctx, cl)
	if _, err := cl.CreateVG(ctx, api.VGCreateRequest{Name: "vg0", MaxVolumes: 6}); err != nil {
		t.Fatalf("create vg: %v", err)
	}
	for _, p := range []api.PoolCreateRequest{
		{Name: "pool0", Node: "n1", ChunkSectors: 128, DataBytes: 256 << 20, MetaBytes: 8 << 20},
		{Name: "pool1", Node: "n2", ChunkSectors: 128, DataBytes: 224 << 20, MetaBytes: 8 << 20},
	} {
		if _, err := cl.CreatePool(ctx, "vg0", p); err != nil {
			t.Fatalf("create pool %s: %v", p.Name, err)
		}
	}
	d, err := driver.New(cl, driver.Config{VG: "vg0", BackendName: "thinraft-test", ReservedPercentage: 5,
		OpTimeout: 30 * time.Second, Logger: tc.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(driver.Handler(d))
	defer srv.Close()
	r := &runner{t: t, d: d, cl: cl, url: srv.URL}
	var pairs []string
	for k, v := range ids {
		pairs = append(pairs, "{"+k+"}", v)
	}
	r.rep = strings.NewReplacer(pairs...)
	for i, s := range contract {
		if ctx.Err() != nil {
			t.Fatalf("out of time before step %d %q", i, s.name)
		}
		if !r.run(ctx, s) {
			t.Fatalf("step %d %q failed; later steps depend on it", i, s.name)
		}
	}
}
