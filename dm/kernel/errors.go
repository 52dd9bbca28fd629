package kernel

import (
	"errors"
	"syscall"

	"github.com/thinraft/thinraft/dm"
)

// Operation names used in *dm.Error.Op.
const (
	opVersion  = "version"
	opList     = "list"
	opInfo     = "info"
	opCreate   = "create"
	opLoad     = "load"
	opClear    = "clear"
	opSuspend  = "suspend"
	opResume   = "resume"
	opRemove   = "remove"
	opMessage  = "message"
	opStatus   = "status"
	opTable    = "table"
	opWait     = "wait"
	opOpen     = "open"
	opRead     = "read"
	opWrite    = "write"
	opFlush    = "flush"
	opDiscard  = "discard"
	opMknod    = "mknod"
	opLoop     = "loop"
	opSetParam = "param"
)

// opError classifies the errno of a refused ioctl. The same errno means
// different things per op (EBUSY: name taken on create, device open on
// remove), so the op decides the kind. Messages go through dm.MessageError
// instead, shared with the userspace engine. poolLive tells a resume whose
// live table is a thin-pool (its preresume refuses a data device smaller
// than the metadata records with EINVAL).
func opError(op, device string, err error, poolLive bool) error {
	var no syscall.Errno
	if !errors.As(err, &no) {
		return &dm.Error{Op: op, Device: device, Detail: err.Error()}
	}
	e := &dm.Error{Op: op, Device: device, Errno: no}
	if no == syscall.ENXIO {
		e.Kind = dm.ErrDeviceNotFound
		return e
	}
	switch op {
	case opCreate:
		if no == syscall.EBUSY {
			e.Kind = dm.ErrDeviceExists
		}
	case opRemove:
		if no == syscall.EBUSY {
			e.Kind = dm.ErrDeviceBusy
		}
	case opLoad:
		// A load fails only in the table's constructors and checks
		// (EINVAL for arguments, ENODEV/ENOTBLK/ENOENT for a device path
		// that does not open, EBUSY for a device another table holds
		// exclusively, ENOMEM when the kernel cannot allocate).
		switch no {
		case syscall.EINVAL, syscall.ENODEV, syscall.ENOTBLK, syscall.ENOENT, syscall.EBUSY, syscall.EPERM:
			e.Kind = dm.ErrInvalidTable
		}
	case opResume:
		if no == syscall.EINVAL && poolLive {
			e.Kind = dm.ErrPoolTooSmall
		}
	case opRead, opWrite, opFlush, opDiscard:
		switch no {
		case syscall.ENOSPC:
			e.Kind = dm.ErrNoSpace
		case syscall.EIO:
			e.Kind = dm.ErrIO
		}
	}
	return e
}

// messageError classifies a refused target message; noTable reports that
// the device had no live table, which the kernel also answers with EINVAL.
func messageError(device, msg string, err error, noTable bool) error {
	var no syscall.Errno
	if !errors.As(err, &no) {
		return &dm.Error{Op: opMessage, Device: device, Arg: msg, Detail: err.Error()}
	}
	if no == syscall.EINVAL && noTable {
		return &dm.Error{Op: opMessage, Device: device, Arg: msg, Errno: no, Kind: dm.ErrNoTable}
	}
	return dm.MessageError(device, msg, no)
}
