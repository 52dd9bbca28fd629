package agent

import (
	"fmt"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// Translation between the metadata model (bytes, LVM's discard words, pools
// by uuid) and thinpool's (sectors, dm's discard modes, pools by name).

// maxDMName is the kernel's DM_NAME_LEN less its terminating NUL.
const maxDMName = 127

// discardMode maps LVM's --discards words to the pool feature.
func discardMode(lvm string) (dm.DiscardMode, error) {
	switch lvm {
	case "", "passdown":
		return dm.DiscardPassdown, nil
	case "nopassdown":
		return dm.DiscardNoPassdown, nil
	case "ignore":
		return dm.DiscardIgnore, nil
	}
	return "", fmt.Errorf("discards %q: want passdown, nopassdown or ignore", lvm)
}

// poolConfig builds the thinpool configuration of a recorded pool; base
// carries the node's autoextend and reserve policy.
func poolConfig(p metadata.Pool, metaDev, dataDev string, base thinpool.Config) (thinpool.Config, error) {
	d, err := discardMode(p.Discards)
	if err != nil {
		return thinpool.Config{}, fmt.Errorf("pool %s: %w", p.UUID, err)
	}
	cfg := base
	cfg.Name = p.UUID
	cfg.MetadataDev, cfg.DataDev = metaDev, dataDev
	cfg.ChunkSectors = uint64(p.ChunkSectors)
	cfg.SkipZeroing = !p.Zero
	cfg.Discards = d
	cfg.ErrorIfNoSpace = p.ErrorIfNoSpace
	// The longest name is a thin device's: prefix, uuid, "-", thin id.
	if n := len(thinpool.DMPrefix) + len(p.UUID) + 1 + len("4294967295"); n > maxDMName {
		return thinpool.Config{}, fmt.Errorf("pool %s: dm names would be %d bytes, over the kernel's %d", p.UUID, n, maxDMName)
	}
	return cfg, nil
}

func toSectors(b uint64) uint64 { return b / dm.SectorSize }

// toIntent converts a queued metadata intent into thinpool's form.
func toIntent(in metadata.Intent) (thinpool.Intent, error) {
	out := thinpool.Intent{ID: in.ID, Pool: in.Pool, ThinID: in.ThinID, SizeSectors: toSectors(in.SizeBytes), FromTxn: in.FromTxn}
	switch in.Op {
	case metadata.OpCreateThin:
		out.Op = thinpool.OpCreateThin
	case metadata.OpCreateSnap:
		out.Op, out.Origin = thinpool.OpSnapshot, in.Origin
	case metadata.OpDelete:
		out.Op = thinpool.OpDelete
	default:
		return thinpool.Intent{}, fmt.Errorf("intent %s: unknown op %q", in.ID, in.Op)
	}
	return out, nil
}

func toFinding(f thinpool.Finding) metadata.Finding {
	return metadata.Finding{Kind: string(f.Kind), ThinID: f.ThinID, KernelTxn: f.KernelTxn, RecordTxn: f.RecordTxn, Detail: f.Detail}
}

func fromFinding(pool string, f metadata.Finding) thinpool.Finding {
	return thinpool.Finding{Pool: pool, Kind: thinpool.FindingKind(f.Kind), ThinID: f.ThinID, KernelTxn: f.KernelTxn, RecordTxn: f.RecordTxn, Detail: f.Detail}
}

// sameFinding compares findings without their time, so a periodic
// reconcile that finds the same thing again does not report it again.
func sameFinding(a, b metadata.Finding) bool {
	return a.Kind == b.Kind && a.ThinID == b.ThinID && a.KernelTxn == b.KernelTxn && a.RecordTxn == b.RecordTxn && a.Detail == b.Detail
}
