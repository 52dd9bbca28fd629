package thinpool

import (
	"context"
	"fmt"
)

// Op is a pool operation that changes the kernel's thin-device set and so
// moves the pool's transaction id by one.
type Op string

// The operations of the transaction protocol.
const (
	OpCreateThin Op = "create_thin"
	OpSnapshot   Op = "create_snap"
	OpDelete     Op = "delete"
)

// Intent is one step of the transaction protocol: the caller has recorded
// that ThinID is to be created (or snapshotted from Origin, or deleted),
// moving the pool's transaction id from FromTxn to FromTxn+1. The pool is
// the only writer of its kernel transaction id; an Intent is executed at most
// once to completion and is idempotent under redo (see Reconcile).
type Intent struct {
	// ID names the intent in the caller's record (a Raft index later).
	ID     string
	Pool   string
	Op     Op
	ThinID uint32
	// Origin is the snapshot origin's thin id (OpSnapshot only).
	Origin uint32
	// SizeSectors is the virtual size of a new thin device.
	SizeSectors uint64
	FromTxn     uint64
}

// ToTxn is the transaction id the pool has after the intent completes.
func (in Intent) ToTxn() uint64 { return in.FromTxn + 1 }

func (in Intent) String() string {
	switch in.Op {
	case OpSnapshot:
		return fmt.Sprintf("%s %s thin %d of %d txn %d->%d", in.Pool, in.Op, in.ThinID, in.Origin, in.FromTxn, in.ToTxn())
	default:
		return fmt.Sprintf("%s %s thin %d txn %d->%d", in.Pool, in.Op, in.ThinID, in.FromTxn, in.ToTxn())
	}
}

// ThinRecord is what the caller's record knows of one thin device.
type ThinRecord struct {
	ID          uint32
	SizeSectors uint64
	// Origin is the thin id this one was snapshotted from, if HasOrigin.
	Origin    uint32
	HasOrigin bool
}

// PoolState is the caller's durable record of one pool: its transaction id,
// the thin devices it knows, and the intent in flight, if any.
type PoolState struct {
	Pool  string
	TxnID uint64
	Thins map[uint32]ThinRecord
	// Pending is the intent recorded but not yet completed or abandoned:
	// the head of Queue.
	Pending *Intent
	// Queue is every pending intent in order. The cluster's record queues
	// several (executed as batches, see ExecuteBatch); FileRecord holds at
	// most one, and may leave Queue empty when Pending is set.
	Queue []Intent
	// Quarantined lists what reconcile could not explain, newest last.
	Quarantined []Finding

	seq uint64 // FileRecord's last applied log entry
}

// Record is the caller's durable record of a pool (the Raft record in the
// cluster; a file in tests and standalone use). thinpool reads it and moves
// it forward only through these calls, so it never needs to know about Raft.
//
// Contract:
//   - Every method is durable when it returns nil: after a crash, Load
//     returns the state as of the last successful call.
//   - Begin records in as the pool's pending intent. It fails if another
//     intent is pending or in.FromTxn differs from the recorded TxnID: the
//     caller lost a race and must re-read.
//   - Complete applies the pending intent (TxnID = in.ToTxn(), the thin set
//     changed by in.Op) and clears it. It is idempotent: completing an
//     intent that is no longer pending but whose effect is recorded returns
//     nil.
//   - Abandon clears the pending intent without applying it, keeping reason.
//   - Quarantine appends a finding; it never changes TxnID or Thins.
//   - SetThinSize records a thin device's new virtual size (no kernel
//     transaction: the size lives in the thin table, not the pool).
//   - Methods may be called concurrently for different pools; for one pool
//     thinpool serialises its calls.
type Record interface {
	Load(ctx context.Context) (PoolState, error)
	Begin(ctx context.Context, in Intent) error
	Complete(ctx context.Context, in Intent) error
	Abandon(ctx context.Context, in Intent, reason string) error
	Quarantine(ctx context.Context, f Finding) error
	SetThinSize(ctx context.Context, id uint32, sizeSectors uint64) error
}

// Finding is something reconcile found in the kernel that the record does
// not explain. It is reported, never acted on.
type Finding struct {
	Pool   string
	Kind   FindingKind
	ThinID uint32
	// KernelTxn and RecordTxn are the two transaction ids compared.
	KernelTxn uint64
	RecordTxn uint64
	Detail    string
}

// FindingKind classifies a quarantine finding.
type FindingKind string

// Quarantine findings.
const (
	// FindingUnknownThin: the kernel has a thin id the record never had.
	FindingUnknownThin FindingKind = "unknown_thin_id"
	// FindingMissingThin: the record has a thin id the kernel lacks, with no
	// pending intent that explains it.
	FindingMissingThin FindingKind = "missing_thin_id"
	// FindingTxnDrift: kernel and record transaction ids differ by more
	// than a pending intent explains.
	FindingTxnDrift FindingKind = "transaction_id_drift"
)

func (f Finding) String() string {
	if f.Kind == FindingTxnDrift {
		// A drift is about the pool; the detail names the intent, if any.
		return fmt.Sprintf("pool %s: %s (kernel txn %d, record txn %d): %s",
			f.Pool, f.Kind, f.KernelTxn, f.RecordTxn, f.Detail)
	}
	return fmt.Sprintf("pool %s: %s (thin %d, kernel txn %d, record txn %d): %s",
		f.Pool, f.Kind, f.ThinID, f.KernelTxn, f.RecordTxn, f.Detail)
}
