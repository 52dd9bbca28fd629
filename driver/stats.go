package driver

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

const (
	// metaBlockBytes is dm-thin's metadata block size.
	metaBlockBytes = 4096
	// mappingsPerMetaBlock is how many data blocks one metadata block maps
	// at the least: a mapping leaf holds up to 255 entries and in-order
	// filling leaves leaves half full (the fill the userspace engine's
	// space model assumes too). Snapshots sharing leaves only do better.
	mappingsPerMetaBlock = 128
	// kernelMetaReserveMax is dm-thin's cap on its own metadata reserve.
	kernelMetaReserveMax = 4096
)

// capacity is one pool's space, in bytes, by the formula docs/cinder.md
// explains.
type capacity struct {
	total, free uint64
	up          bool
}

// capacityOf applies the thinpool reserve rule to a pool's last usage
// report: creates are refused once free data or free metadata is under
// reserve percent of its device, so only the space above that line is
// free for Cinder; metadata above its line is turned into the data it can
// still map (mappingsPerMetaBlock blocks per metadata block), and the
// smaller of the two is the pool's free capacity.
func capacityOf(p metadata.Pool, reserve int, nodeUp bool) capacity {
	block := uint64(p.ChunkSectors) * 512
	if block == 0 {
		block = 64 << 10
	}
	u := p.Usage
	dataTotal, dataUsed := u.DataTotal, u.DataUsed
	if dataTotal == 0 {
		// No report yet: the devices as recorded, empty.
		dataTotal, dataUsed = p.DataBytes/block, 0
	}
	metaTotal, metaUsed := u.MetaTotal, u.MetaUsed
	if metaTotal == 0 {
		metaTotal = p.MetaBytes / metaBlockBytes
		metaUsed = min(metaTotal/10, kernelMetaReserveMax)
	}
	above := func(total, used uint64) uint64 {
		line := (total*uint64(reserve) + 99) / 100
		if used+line >= total {
			return 0
		}
		return total - used - line
	}
	dataFree := above(dataTotal, dataUsed) * block
	metaFree := above(metaTotal, metaUsed) * mappingsPerMetaBlock * block
	c := capacity{total: dataTotal * block, free: min(dataFree, metaFree),
		up: nodeUp && p.State == metadata.PoolActive && (u.Mode == "" || u.Mode == "rw")}
	if !c.up {
		c.free = 0
	}
	return c
}

// gb is bytes in GiB, rounded down to two decimals (never promising more
// than there is).
func gb(b uint64) float64 { return math.Floor(float64(b)/gib*100) / 100 }

// GetVolumeStats is get_volume_stats: the cached stats, or fresh ones when
// refresh is set or none were taken yet. One Cinder pool per thinraft pool.
func (d *Driver) GetVolumeStats(ctx context.Context, refresh bool) (*Stats, error) {
	d.mu.Lock()
	cached := d.stats
	d.mu.Unlock()
	if cached != nil && !refresh {
		c := *cached
		c.Pools = slices.Clone(cached.Pools)
		return &c, nil
	}
	s, err := d.collectStats(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.stats = s
	d.mu.Unlock()
	c := *s
	c.Pools = slices.Clone(s.Pools)
	return &c, nil
}

// pools returns the backend's pools (Config.Pools, or all of the VG) and
// which nodes are up.
func (d *Driver) pools(ctx context.Context) ([]metadata.Pool, map[string]bool, error) {
	all, err := d.api.Pools(ctx, d.cfg.VG)
	if err != nil {
		return nil, nil, wrap(err, "list pools of VG %s", d.cfg.VG)
	}
	nodes, err := d.api.Nodes(ctx)
	if err != nil {
		return nil, nil, wrap(err, "list nodes")
	}
	up := map[string]bool{}
	for _, n := range nodes {
		up[n.ID] = n.State == metadata.NodeUp
	}
	if len(d.cfg.Pools) == 0 {
		return all, up, nil
	}
	var out []metadata.Pool
	for _, p := range all {
		if slices.Contains(d.cfg.Pools, p.Name) {
			out = append(out, p)
		}
	}
	return out, up, nil
}

func (d *Driver) collectStats(ctx context.Context) (*Stats, error) {
	pools, up, err := d.pools(ctx)
	if err != nil {
		return nil, err
	}
	prov := map[string]uint64{}
	count := map[string]int{}
	lo := client.ListOptions{Limit: 1000}
	for {
		page, err := d.api.Volumes(ctx, d.cfg.VG, lo)
		if err != nil {
			return nil, wrap(err, "list volumes of VG %s", d.cfg.VG)
		}
		for _, v := range page.Volumes {
			prov[v.Pool] += v.SizeBytes
			count[v.Pool]++
		}
		if page.Next == "" {
			break
		}
		lo.After = page.Next
	}
	s := &Stats{VolumeBackendName: d.cfg.BackendName, VendorName: "thinraft", DriverVersion: Version,
		StorageProtocol: "nbd", Pools: []PoolStats{}}
	for _, p := range pools {
		c := capacityOf(p, d.cfg.PoolReservePercent, up[p.Node])
		state := "up"
		if !c.up {
			state = "down"
		}
		s.Pools = append(s.Pools, PoolStats{
			PoolName:                 p.Name,
			TotalCapacityGB:          gb(c.total),
			FreeCapacityGB:           gb(c.free),
			ProvisionedCapacityGB:    gb(prov[p.UUID]),
			MaxOverSubscriptionRatio: d.cfg.MaxOverSubscriptionRatio,
			ThinProvisioningSupport:  true,
			ThickProvisioningSupport: false,
			ReservedPercentage:       d.cfg.ReservedPercentage,
			TotalVolumes:             count[p.UUID],
			LocationInfo:             fmt.Sprintf("ThinraftDriver:%s:%s:%s:thin", p.Node, d.cfg.VG, p.Name),
			QoSSupport:               false,
			Multiattach:              true,
			BackendState:             state,
		})
	}
	return s, nil
}

// place picks a new volume's pool: the scheduler's (host "...#pool"), or
// else the pool with the most free capacity whose node is up.
func (d *Driver) place(ctx context.Context, host string) (string, error) {
	if p := poolOfHost(host); p != "" {
		if len(d.cfg.Pools) > 0 && !slices.Contains(d.cfg.Pools, p) {
			return "", errorf(KindInvalid, "host %q names pool %s, which is not one of this backend's pools %v", host, p, d.cfg.Pools)
		}
		return p, nil
	}
	pools, up, err := d.pools(ctx)
	if err != nil {
		return "", err
	}
	best, bestFree := "", uint64(0)
	for _, p := range pools {
		c := capacityOf(p, d.cfg.PoolReservePercent, up[p.Node])
		if c.up && (best == "" || c.free > bestFree || c.free == bestFree && p.Name < best) {
			best, bestFree = p.Name, c.free
		}
	}
	if best == "" {
		return "", errorf(KindUnavailable, "no usable pool in VG %s (none, or their nodes are down); create one: thinraft lvcreate --type thin-pool -L 10G %s/pool0", d.cfg.VG, d.cfg.VG)
	}
	return best, nil
}
