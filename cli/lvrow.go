package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/thinraft/thinraft/metadata"
)

// lvRow is one LV of lvdisplay: a pool or a thin volume.
type lvRow struct {
	S    *vgState
	Pool *metadata.Pool
	Vol  *metadata.Volume
}

func (r lvRow) name() string {
	if r.Vol != nil {
		return r.Vol.Name
	}
	return r.Pool.Name
}

func (r lvRow) poolLV() string {
	if r.Vol != nil && r.Pool != nil {
		return r.Pool.Name
	}
	return ""
}

func (r lvRow) origin() string {
	if r.Vol != nil && r.Vol.Origin != "" {
		return r.S.originName(r.Vol.Origin)
	}
	return ""
}

func (r lvRow) dataPercent() string {
	if r.Vol != nil {
		if r.Pool == nil || r.Vol.SizeBytes == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f", 100*float64(r.Vol.ExclusiveBytes+r.Vol.SharedBytes)/float64(r.Vol.SizeBytes))
	}
	u := r.Pool.Usage
	if u.DataTotal == 0 {
		return "0.00"
	}
	return fmt.Sprintf("%.2f", 100*float64(u.DataUsed)/float64(u.DataTotal))
}

func (r lvRow) metaPercent() string {
	if r.Vol != nil {
		return ""
	}
	u := r.Pool.Usage
	if u.MetaTotal == 0 {
		return "0.00"
	}
	return fmt.Sprintf("%.2f", 100*float64(u.MetaUsed)/float64(u.MetaTotal))
}

// lvRows lists the LVs of states for lvdisplay: pools and volumes, in
// name order per VG, restricted to the names asked for; a name that does
// not exist is an error, as in LVM.
func lvRows(states []*vgState, want map[string][]string) ([]lvRow, error) {
	var out []lvRow
	for _, s := range states {
		names := want[s.VG.Name]
		asked := map[string]bool{}
		for _, n := range names {
			asked[n] = true
		}
		found := map[string]bool{}
		pick := func(n string) bool {
			if len(names) == 0 || asked[n] {
				found[n] = true
				return true
			}
			return false
		}
		var rows []lvRow
		for i := range s.Pools {
			if p := &s.Pools[i]; pick(p.Name) {
				rows = append(rows, lvRow{S: s, Pool: p})
			}
		}
		for i := range s.Volumes {
			if v := &s.Volumes[i]; pick(v.Name) {
				rows = append(rows, lvRow{S: s, Vol: v, Pool: s.poolByUUID[v.Pool]})
			}
		}
		for _, n := range names {
			if !found[n] {
				return nil, failf("Failed to find logical volume \"%s/%s\"", s.VG.Name, n)
			}
		}
		slices.SortStableFunc(rows, func(a, b lvRow) int { return strings.Compare(a.name(), b.name()) })
		out = append(out, rows...)
	}
	return out, nil
}
