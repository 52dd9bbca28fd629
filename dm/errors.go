package dm

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Error kinds. Callers branch on these with errors.Is; both Control
// implementations return them for the same situations. The raw errno is
// also reachable with errors.Is(err, syscall.EXXX).
var (
	// ErrDeviceNotFound: no device-mapper device has that name (ENXIO).
	ErrDeviceNotFound = errors.New("device-mapper device not found")
	// ErrDeviceExists: a device-mapper device with that name exists (EBUSY on create).
	ErrDeviceExists = errors.New("device-mapper device already exists")
	// ErrDeviceBusy: the device is open or used by another device (EBUSY).
	ErrDeviceBusy = errors.New("device-mapper device is busy")
	// ErrNoTable: the device has no live table to act on (ENXIO/EINVAL).
	ErrNoTable = errors.New("device has no live table")
	// ErrInvalidTable: a target constructor refused the table (EINVAL, ENODEV, ENOTBLK...).
	ErrInvalidTable = errors.New("table refused by target")
	// ErrPoolTooSmall: a pool's data device is smaller than its metadata records (EINVAL on resume).
	ErrPoolTooSmall = errors.New("pool data device smaller than recorded in metadata")

	// ErrThinIDExists: create_thin/create_snap with an id in use (EEXIST).
	ErrThinIDExists = errors.New("thin device id already exists")
	// ErrThinIDNotFound: create_snap origin or delete target missing (ENODATA).
	ErrThinIDNotFound = errors.New("thin device id does not exist")
	// ErrThinIDActive: delete of a thin id that has an active thin device (EBUSY).
	ErrThinIDActive = errors.New("thin device id is active")
	// ErrTransactionMismatch: set_transaction_id with the wrong current id (EINVAL).
	ErrTransactionMismatch = errors.New("mismatched transaction id")
	// ErrMetadataSnapHeld: reserve_metadata_snap while one is held (EBUSY).
	ErrMetadataSnapHeld = errors.New("pool metadata snapshot already held")
	// ErrNoMetadataSnap: release_metadata_snap with none held (EINVAL).
	ErrNoMetadataSnap = errors.New("no pool metadata snapshot held")
	// ErrBadMessage: unknown message or bad arguments (EINVAL).
	ErrBadMessage = errors.New("unrecognised or malformed target message")
	// ErrPoolReadOnly: the pool is read-only or failed and refuses messages (EOPNOTSUPP).
	ErrPoolReadOnly = errors.New("pool is read-only or failed")

	// ErrNoSpace: a write needed a new block and the pool is out of data
	// space (ENOSPC; at once with error_if_no_space, after the no-space
	// timeout in queue mode).
	ErrNoSpace = errors.New("pool is out of data space")
	// ErrIO: an IO was failed by the target (EIO).
	ErrIO = errors.New("device IO error")
	// ErrUnaligned: an IO offset or length that is not a multiple of 512.
	ErrUnaligned = errors.New("IO not aligned to 512-byte sectors")
)

// Error is a refused device-mapper operation. Op is the operation
// ("create", "load", "resume", "message", "write", ...), Device the dm name,
// Arg the message text or other argument, Kind one of the sentinel errors
// above (nil if none applies) and Errno the kernel's errno.
type Error struct {
	Op     string
	Device string
	Arg    string
	Kind   error
	Errno  syscall.Errno
	// Detail is an optional human explanation (what the kernel would log).
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dm ")
	b.WriteString(e.Op)
	if e.Device != "" {
		b.WriteString(" ")
		b.WriteString(e.Device)
	}
	if e.Arg != "" {
		fmt.Fprintf(&b, " %q", e.Arg)
	}
	b.WriteString(": ")
	switch {
	case e.Kind != nil && e.Detail != "":
		fmt.Fprintf(&b, "%v: %s", e.Kind, e.Detail)
	case e.Kind != nil:
		b.WriteString(e.Kind.Error())
	case e.Detail != "":
		b.WriteString(e.Detail)
	default:
		b.WriteString("failed")
	}
	if e.Errno != 0 {
		fmt.Fprintf(&b, " (%s)", errnoName(e.Errno))
	}
	return b.String()
}

// Unwrap exposes both the kind and the errno to errors.Is.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Errno != 0 {
		out = append(out, e.Errno)
	}
	return out
}

// Errno returns the errno carried by err, or 0.
func Errno(err error) syscall.Errno {
	var e *Error
	if errors.As(err, &e) && e.Errno != 0 {
		return e.Errno
	}
	var no syscall.Errno
	if errors.As(err, &no) {
		return no
	}
	return 0
}

// ErrnoName returns the symbolic name of an errno ("EEXIST"), as the
// conformance scripts spell them.
func ErrnoName(no syscall.Errno) string { return errnoName(no) }

var errnoNames = map[syscall.Errno]string{
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.EIO: "EIO",
	syscall.ENXIO: "ENXIO", syscall.EBADF: "EBADF", syscall.ENOMEM: "ENOMEM",
	syscall.EACCES: "EACCES", syscall.ENOTBLK: "ENOTBLK", syscall.EBUSY: "EBUSY",
	syscall.EEXIST: "EEXIST", syscall.ENODEV: "ENODEV", syscall.EINVAL: "EINVAL",
	syscall.ENOSPC: "ENOSPC", syscall.EROFS: "EROFS", syscall.ENODATA: "ENODATA",
	syscall.EOPNOTSUPP: "EOPNOTSUPP", syscall.ETIMEDOUT: "ETIMEDOUT",
	syscall.EAGAIN: "EAGAIN", syscall.EFBIG: "EFBIG", syscall.ERANGE: "ERANGE",
}

func errnoName(no syscall.Errno) string {
	if n, ok := errnoNames[no]; ok {
		return n
	}
	return fmt.Sprintf("errno %d", int(no))
}

// ErrnoByName is the inverse of ErrnoName; ok is false for unknown names.
func ErrnoByName(name string) (syscall.Errno, bool) {
	for no, n := range errnoNames {
		if n == name {
			return no, true
		}
	}
	return 0, false
}

// MessageError classifies the errno a thin-pool returned for msg the way
// the kernel's message handlers mean it, so that both implementations
// produce the same typed error. It is exported for dm/kernel, which only
// sees the errno, and dm/emu, which decides the errno itself.
func MessageError(device, msg string, errno syscall.Errno) *Error {
	e := &Error{Op: "message", Device: device, Arg: msg, Errno: errno}
	verb := strings.ToLower(firstField(msg))
	switch errno {
	case syscall.EEXIST:
		if verb == "create_thin" || verb == "create_snap" {
			e.Kind = ErrThinIDExists
		}
	case syscall.ENODATA:
		if verb == "create_snap" || verb == "delete" {
			e.Kind = ErrThinIDNotFound
		}
	case syscall.EBUSY:
		switch verb {
		case "delete":
			e.Kind = ErrThinIDActive
		case "reserve_metadata_snap":
			e.Kind = ErrMetadataSnapHeld
		}
	case syscall.EOPNOTSUPP:
		e.Kind = ErrPoolReadOnly
	case syscall.ENXIO:
		e.Kind = ErrDeviceNotFound
	case syscall.EINVAL:
		// The kernel answers EINVAL both for a malformed message and for
		// two semantic refusals; a message that parses can only have been
		// refused for the semantic reason.
		_, perr := ParseMessage(msg)
		switch {
		case perr != nil:
			e.Kind = ErrBadMessage
			e.Detail = perr.Error()
		case verb == "set_transaction_id":
			e.Kind = ErrTransactionMismatch
		case verb == "release_metadata_snap":
			e.Kind = ErrNoMetadataSnap
		default:
			e.Kind = ErrBadMessage
		}
	}
	return e
}

func firstField(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
