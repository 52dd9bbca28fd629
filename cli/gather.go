package cli

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// vgState is one VG as the reporting commands see it: its pools and
// volumes, with the uuid references resolved.
type vgState struct {
	VG      metadata.VG
	Pools   []metadata.Pool
	Volumes []metadata.Volume
	// poolByUUID and volByUUID resolve a volume's pool and origin.
	poolByUUID map[string]*metadata.Pool
	volByUUID  map[string]*metadata.Volume
}

func (s *vgState) poolName(uuid string) string {
	if p := s.poolByUUID[uuid]; p != nil {
		return p.Name
	}
	return ""
}

func (s *vgState) originName(uuid string) string {
	if v := s.volByUUID[uuid]; v != nil {
		return v.Name
	}
	return ""
}

// gather reads the named VGs (all when names is empty) in name order.
func gather(ctx context.Context, cl API, names []string) ([]*vgState, error) {
	if len(names) == 0 {
		vgs, err := cl.VGs(ctx)
		if err != nil {
			return nil, apiErr("list VGs", err)
		}
		for _, v := range vgs {
			names = append(names, v.Name)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var out []*vgState
	for _, n := range names {
		vg, err := cl.VG(ctx, n)
		if errors.Is(err, client.ErrNotFound) {
			return nil, failf("Volume group \"%s\" not found; `thinraft vgs` lists them", n)
		}
		if err != nil {
			return nil, apiErr("volume group "+n, err)
		}
		pools, err := cl.Pools(ctx, n)
		if err != nil {
			return nil, apiErr("list pools of "+n, err)
		}
		vols, err := allVolumes(ctx, cl, n)
		if err != nil {
			return nil, err
		}
		s := &vgState{VG: *vg, Pools: pools, Volumes: vols, poolByUUID: map[string]*metadata.Pool{}, volByUUID: map[string]*metadata.Volume{}}
		slices.SortFunc(s.Pools, func(a, b metadata.Pool) int { return strings.Compare(a.Name, b.Name) })
		slices.SortFunc(s.Volumes, func(a, b metadata.Volume) int { return strings.Compare(a.Name, b.Name) })
		for i := range s.Pools {
			s.poolByUUID[s.Pools[i].UUID] = &s.Pools[i]
		}
		for i := range s.Volumes {
			s.volByUUID[s.Volumes[i].UUID] = &s.Volumes[i]
		}
		out = append(out, s)
	}
	return out, nil
}

// selectArgs splits lvs-style arguments ("vg", "vg/lv") into the VGs to
// read and, per VG, the LVs asked for (nil: all of them).
func selectArgs(args []string) (vgs []string, lvs map[string][]string) {
	lvs = map[string][]string{}
	whole := map[string]bool{}
	for _, a := range args {
		r := parseRef(a)
		if r.VG == "" {
			whole[r.LV] = true
			vgs = append(vgs, r.LV)
			continue
		}
		vgs = append(vgs, r.VG)
		lvs[r.VG] = append(lvs[r.VG], r.LV)
	}
	for vg := range whole {
		delete(lvs, vg)
	}
	return vgs, lvs
}

// allVolumes pages through a VG's volumes.
func allVolumes(ctx context.Context, cl API, vg string) ([]metadata.Volume, error) {
	var out []metadata.Volume
	after := ""
	for {
		page, err := cl.Volumes(ctx, vg, client.ListOptions{After: after, Limit: 1000})
		if err != nil {
			return nil, apiErr("list volumes of "+vg, err)
		}
		out = append(out, page.Volumes...)
		if page.Next == "" {
			return out, nil
		}
		after = page.Next
	}
}
