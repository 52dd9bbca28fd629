package dm

import (
	"context"
	"io"
	"time"
)

// Control is the one seam between thinraft's policy and device-mapper. Two
// implementations exist: dm/kernel drives the kernel through DM ioctls on
// /dev/mapper/control, and dm/emu implements the thin-pool and thin targets in
// Go for machines without device-mapper. Both must pass the conformance suite
// in dm/conformance with identical results; a difference is a bug.
//
// Lifecycle of a device, as in the kernel: Create makes a named device (with
// no table, or with a table that is loaded and resumed at once); Load stages an
// inactive table; Resume swaps the inactive table in (suspending first if
// needed) and lets IO flow; Suspend quiesces IO; Remove deletes the device.
// Names are unique per Control; thinraft prefixes its own names so that it
// never touches devices it did not make.
//
// Errors: every method returns *Error (or wraps one) when the target or the
// device-mapper core refuses an operation. Callers branch with errors.Is on
// the sentinel kinds in errors.go (ErrDeviceNotFound, ErrThinIDExists,
// ErrTransactionMismatch, ...) and on the raw errno (syscall.EEXIST...), which
// both implementations return identically.
//
// Concurrency: all methods are safe for concurrent use. Operations on one
// device are serialised by the implementation as the kernel serialises them;
// a caller that needs a sequence to be atomic (suspend, message, resume)
// provides its own lock.
type Control interface {
	// Version returns the device-mapper ioctl interface version and the
	// registered target types with their versions.
	Version(ctx context.Context) (Version, error)

	// List returns every device known to this Control, sorted by name.
	List(ctx context.Context) ([]DeviceInfo, error)

	// Info returns the state of one device. ErrDeviceNotFound if absent.
	Info(ctx context.Context, name string) (DeviceInfo, error)

	// Create makes a device. With a non-empty table the table is loaded and
	// the device resumed, as `dmsetup create NAME --table` does; if loading
	// or resuming fails the device is removed again and the error returned.
	// ErrDeviceExists if the name is taken.
	Create(ctx context.Context, name string, opts CreateOptions) (DeviceInfo, error)

	// Load stages a table in the device's inactive slot, replacing any
	// staged one. Target constructors run here: a thin-pool table is checked
	// (block size, devices, metadata superblock) and a bad one is refused
	// without touching the live table.
	Load(ctx context.Context, name string, table Table) error

	// ClearInactive drops a staged table that has not been resumed.
	ClearInactive(ctx context.Context, name string) error

	// Suspend stops IO to the device. Without NoFlush, in-flight IO is
	// completed (and a thin-pool commits its metadata) first; with NoFlush
	// queued IO stays queued. Suspending a suspended device is a no-op.
	Suspend(ctx context.Context, name string, opts SuspendOptions) error

	// Resume makes the staged table live if there is one (the target's
	// preresume checks run here: a thin-pool refuses a data device smaller
	// than its metadata records, with EINVAL) and restarts IO.
	Resume(ctx context.Context, name string) error

	// Remove deletes a device. A device that is open or in use by another
	// device is EBUSY (ErrDeviceBusy); Remove retries EBUSY up to
	// opts.Retries times, opts.RetryDelay apart, before giving up.
	Remove(ctx context.Context, name string, opts RemoveOptions) error

	// Message sends a target message (`dmsetup message NAME SECTOR MSG`)
	// and returns the target's reply text, if any. A thin-pool accepts
	// create_thin, create_snap, delete, set_transaction_id,
	// reserve_metadata_snap and release_metadata_snap and commits its
	// metadata after each one that succeeds.
	Message(ctx context.Context, name string, sector uint64, msg string) (string, error)

	// Status returns the live table's status lines (STATUSTYPE_INFO). A
	// thin-pool commits its metadata before reporting unless NoFlush is set
	// or the device is suspended. Parse the params with ParsePoolStatus and
	// ParseThinStatus.
	Status(ctx context.Context, name string, opts StatusOptions) ([]TargetStatus, error)

	// Table returns the live table (STATUSTYPE_TABLE), or the inactive one
	// with opts.Inactive.
	Table(ctx context.Context, name string, opts TableOptions) (Table, error)

	// WaitEvent blocks until the device's event counter differs from
	// afterEvent (a thin-pool raises an event when free data falls to the
	// low-water mark, when free metadata falls to its threshold, and when
	// its mode changes), then returns the new counter. It returns at once if
	// the counter already differs, and ctx.Err() when ctx ends first.
	WaitEvent(ctx context.Context, name string, afterEvent uint32) (uint32, error)

	// Open opens an active device for IO. See BlockDevice.
	Open(ctx context.Context, name string) (BlockDevice, error)
}

// BlockDevice is an open device-mapper device. On the kernel it is
// /dev/mapper/NAME opened with O_DIRECT (Flush is fsync, Discard is
// BLKDISCARD); on the userspace engine it goes straight to the target.
//
// Offsets and lengths must be multiples of SectorSize (512); anything else
// is ErrUnaligned, on both implementations. IO errors carry the errno the
// kernel returns: ENOSPC (ErrNoSpace) for a write that needs a new block in
// a pool out of data space (at once with error_if_no_space, after the
// no-space timeout in queue mode), EIO (ErrIO) for a read-only, failed or
// out-of-metadata-space pool.
//
// Concurrency: ReadAt and WriteAt may be called concurrently; a write is
// durable once a later Flush returns nil (the pool commits its metadata on
// FLUSH, so the mapping of a newly allocated block survives a crash only
// after a flush).
type BlockDevice interface {
	io.ReaderAt
	io.WriterAt
	// Flush makes all completed writes durable (REQ_PREFLUSH).
	Flush() error
	// Discard unmaps [off, off+length): whole pool blocks inside the range
	// are unmapped and read back as zeros; partial blocks are left as they
	// are, as dm-thin does.
	Discard(off, length int64) error
	// Size is the device length in bytes.
	Size() int64
	Close() error
}

// SectorSize is device-mapper's unit for table offsets and lengths.
const SectorSize = 512

// Version describes the device-mapper core and its targets.
type Version struct {
	// Interface is the DM ioctl interface version (major, minor, patch).
	Interface [3]uint32
	// Targets lists the registered target types.
	Targets []TargetVersion
}

// TargetVersion is one registered target type.
type TargetVersion struct {
	Name    string
	Version [3]uint32
}

// DeviceInfo describes one device-mapper device.
type DeviceInfo struct {
	Name  string
	UUID  string
	Major uint32
	Minor uint32
	// OpenCount is the number of openers (including other devices whose
	// tables refer to this one).
	OpenCount int32
	// TargetCount is the number of targets in the live table.
	TargetCount uint32
	// EventNr is the device's event counter (see Control.WaitEvent).
	EventNr uint32
	// Suspended is true between Suspend and Resume.
	Suspended bool
	// LiveTable and InactiveTable say which table slots are filled.
	LiveTable     bool
	InactiveTable bool
	ReadOnly      bool
}

// CreateOptions are the arguments of Control.Create.
type CreateOptions struct {
	UUID string
	// Table, when non-empty, is loaded and the device resumed.
	Table    Table
	ReadOnly bool
}

// SuspendOptions are the arguments of Control.Suspend.
type SuspendOptions struct {
	// NoFlush leaves queued IO queued instead of completing it, and skips
	// the thin-pool's metadata commit.
	NoFlush bool
}

// RemoveOptions are the arguments of Control.Remove.
type RemoveOptions struct {
	// Retries bounds how often an EBUSY removal is retried; 0 means once.
	Retries int
	// RetryDelay is the pause between retries (default 100ms).
	RetryDelay time.Duration
}

// StatusOptions are the arguments of Control.Status.
type StatusOptions struct {
	// NoFlush asks a thin-pool not to commit before reporting.
	NoFlush bool
}

// TableOptions are the arguments of Control.Table.
type TableOptions struct {
	// Inactive returns the staged table instead of the live one.
	Inactive bool
}

// TargetStatus is one line of a device's status: the target's extent and
// type and its status text (parse with ParsePoolStatus / ParseThinStatus).
type TargetStatus struct {
	Start  uint64 // sectors
	Length uint64 // sectors
	Type   string
	Params string
}

// MetadataReader is implemented by Controls that can read a live pool's
// metadata in thin_dump's model. With snap, the view is the held metadata
// root (reserve_metadata_snap must have been sent); without it, the last
// committed metadata. The kernel implementation only supports snap: live
// kernel metadata changes under a reader, which is exactly why the held root
// exists. Both dm/kernel and dm/emu implement it; thinpool reads usage,
// mappings and deltas through it.
type MetadataReader interface {
	PoolMetadata(ctx context.Context, pool string, snap bool) (*MetadataDump, error)
}
