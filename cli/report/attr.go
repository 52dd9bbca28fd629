package report

import "github.com/thinraft/thinraft/metadata"

// LV attribute letters, by position (lvs(8), "lv_attr bits"), for the LV
// kinds thinraft has. The choices where thinraft's model and LVM's kernel
// view differ are in docs/reports.md.

// lvAttr is the 10-character lv_attr of a row.
func lvAttr(r *LVRow) string {
	b := []byte("----------")
	unknown := !r.nodeUp()
	switch {
	case r.Hidden == HiddenData:
		b[0] = 'T'
	case r.Hidden == HiddenMeta:
		b[0] = 'e'
	case r.Volume != nil:
		b[0] = 'V' // thin volumes and thin snapshots alike
	default:
		b[0] = 't'
	}
	b[1] = 'w'
	if r.Volume != nil && r.Volume.ReadOnly {
		b[1] = 'r'
	}
	b[2] = 'i' // allocation inherited from the VG
	// b[3]: no fixed minor numbers in thinraft.

	// State and open: unknown when the pool's node is not up (the kernel
	// cannot be asked), as LVM shows 'X' when it cannot read device info.
	switch {
	case unknown:
		b[4], b[5] = 'X', 'X'
	case r.Volume != nil:
		if r.volumeActive() {
			b[4] = 'a'
		}
		if r.Volume.Open {
			b[5] = 'o'
		}
	case r.Hidden != "":
		// A running pool holds its data and metadata devices open.
		b[4], b[5] = 'a', 'o'
	default:
		b[4] = 'a'
		if r.Pool.State == metadata.PoolQuarantined {
			// Thin-pool (c)heck needed: the pool waits for repair
			// (lvconvert --repair), which is what LVM's needs_check asks.
			b[4] = 'c'
		}
		if r.ActiveThins > 0 {
			b[5] = 'o'
		}
	}

	if r.Hidden == "" {
		b[6] = 't'
		if r.Pool.Zero {
			b[7] = 'z'
		}
		b[8] = health(r, unknown)
	}
	if r.Volume != nil && r.Volume.ActivationSkip {
		b[9] = 'k'
	}
	return string(b)
}

// health is lv_attr's 9th letter for a pool or thin volume.
func health(r *LVRow, unknown bool) byte {
	if unknown {
		return 'X'
	}
	switch r.Pool.Usage.Mode {
	case "Fail", "Error":
		return 'F' // no I/O at all, for the pool and its thins
	}
	if r.Volume != nil {
		if r.Volume.State == metadata.VolumeFailed {
			// The volume has no thin device: no I/O is possible.
			return 'F'
		}
		return '-'
	}
	switch r.Pool.Usage.Mode {
	case "out_of_data_space":
		return 'D'
	case "ro":
		return 'M'
	}
	return '-'
}

// healthStatus is lv_health_status, the words for the same states.
func healthStatus(r *LVRow) cell {
	if r.Hidden != "" {
		return str("")
	}
	switch health(r, !r.nodeUp()) {
	case 'X':
		return str("unknown")
	case 'F':
		return str("failed")
	case 'D':
		return str("out_of_data")
	case 'M':
		return str("metadata_read_only")
	}
	return str("")
}

// vgAttr is the 6-character vg_attr: (w)riteable, resi(z)eable, not
// exported, not partial, (n)ormal allocation, not clustered.
func vgAttr(r *VGRow) string {
	b := []byte("wz--n-")
	for _, n := range r.Nodes {
		if n.State != metadata.NodeUp {
			// (p)artial: a node that holds some of the VG's pools is
			// missing, as LVM marks a VG with a missing PV.
			b[3] = 'p'
		}
	}
	return string(b)
}

// pvAttr is the 3-character pv_attr: (a)llocatable, not e(x)ported,
// (m)issing when the node is not up.
func pvAttr(r *PVRow) string {
	b := []byte("---")
	switch r.Node.State {
	case metadata.NodeUp:
		b[0] = 'a'
	case metadata.NodeDown:
		b[0] = 'a'
		b[2] = 'm'
	case metadata.NodeLeft:
		// A node that left takes no pools and is gone.
		b[2] = 'm'
	}
	return string(b)
}
