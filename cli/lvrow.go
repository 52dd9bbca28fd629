package cli

import (
	"fmt"

	"github.com/thinraft/thinraft/metadata"
)

// lvRow is one LV of a report: a pool, one of a pool's hidden LVs, or a
// thin volume.
type lvRow struct {
	S      *vgState
	Pool   *metadata.Pool
	Vol    *metadata.Volume
	Hidden string // "tdata" or "tmeta" for the pool's hidden LVs
}

func (r lvRow) name() string {
	switch {
	case r.Vol != nil:
		return r.Vol.Name
	case r.Hidden != "":
		return "[" + r.Pool.Name + "_" + r.Hidden + "]"
	}
	return r.Pool.Name
}

func (r lvRow) size() uint64 {
	switch {
	case r.Vol != nil:
		return r.Vol.SizeBytes
	case r.Hidden == "tmeta":
		return r.Pool.MetaBytes
	}
	return r.Pool.DataBytes
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

// attr is a minimal lv_attr until cli/report lands.
func (r lvRow) attr() string {
	b := []byte("----------")
	switch {
	case r.Vol != nil:
		b[0] = 'V'
		b[1] = 'w'
		if r.Vol.ReadOnly {
			b[1] = 'r'
		}
		b[2] = 'i'
		if r.Vol.Active && r.Vol.State == metadata.VolumeActive {
			b[4] = 'a'
		}
		if r.Vol.Open {
			b[5] = 'o'
		}
		b[6] = 't'
		if r.Pool != nil && r.Pool.Zero {
			b[7] = 'z'
		}
		if r.Vol.ActivationSkip {
			b[9] = 'k'
		}
	case r.Hidden == "tdata":
		copy(b, "Twi-ao----")
	case r.Hidden == "tmeta":
		copy(b, "ewi-ao----")
	default:
		copy(b, "twi-a-t---")
		if r.Pool.Zero {
			b[7] = 'z'
		}
	}
	return string(b)
}

func (r lvRow) dataPercent() string {
	if r.Hidden != "" {
		return ""
	}
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
	if r.Vol != nil || r.Hidden != "" {
		return ""
	}
	u := r.Pool.Usage
	if u.MetaTotal == 0 {
		return "0.00"
	}
	return fmt.Sprintf("%.2f", 100*float64(u.MetaUsed)/float64(u.MetaTotal))
}
