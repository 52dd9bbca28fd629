package kernel

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/thinraft/thinraft/dm"
)

func TestOpErrorKinds(t *testing.T) {
	cases := []struct {
		op       string
		errno    syscall.Errno
		poolLive bool
		kind     error
	}{
		{opCreate, syscall.EBUSY, false, dm.ErrDeviceExists},
		{opRemove, syscall.EBUSY, false, dm.ErrDeviceBusy},
		{opInfo, syscall.ENXIO, false, dm.ErrDeviceNotFound},
		{opRemove, syscall.ENXIO, false, dm.ErrDeviceNotFound},
		{opLoad, syscall.EINVAL, false, dm.ErrInvalidTable},
		{opLoad, syscall.ENODEV, false, dm.ErrInvalidTable},
		{opLoad, syscall.ENOTBLK, false, dm.ErrInvalidTable},
		{opResume, syscall.EINVAL, true, dm.ErrPoolTooSmall},
		{opResume, syscall.EINVAL, false, nil},
		{opWrite, syscall.ENOSPC, false, dm.ErrNoSpace},
		{opWrite, syscall.EIO, false, dm.ErrIO},
		{opRead, syscall.EIO, false, dm.ErrIO},
		{opSuspend, syscall.EBUSY, false, nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s_%s", c.op, dm.ErrnoName(c.errno)), func(t *testing.T) {
			err := opError(c.op, "dev", fmt.Errorf("wrapped: %w", c.errno), c.poolLive)
			var e *dm.Error
			if !errors.As(err, &e) {
				t.Fatalf("not a *dm.Error: %T", err)
			}
			if e.Op != c.op || e.Device != "dev" || e.Errno != c.errno {
				t.Errorf("got %+v", e)
			}
			if !errors.Is(err, c.errno) {
				t.Errorf("errors.Is(err, %v) false", c.errno)
			}
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("kind %v, want %v", e.Kind, c.kind)
			}
			if c.kind == nil && e.Kind != nil {
				t.Errorf("kind %v, want none", e.Kind)
			}
		})
	}
}

func TestMessageErrorKinds(t *testing.T) {
	cases := []struct {
		msg     string
		errno   syscall.Errno
		noTable bool
		kind    error
	}{
		{"create_thin 0", syscall.EEXIST, false, dm.ErrThinIDExists},
		{"create_snap 5 42", syscall.ENODATA, false, dm.ErrThinIDNotFound},
		{"delete 42", syscall.ENODATA, false, dm.ErrThinIDNotFound},
		{"delete 0", syscall.EBUSY, false, dm.ErrThinIDActive},
		{"set_transaction_id 7 8", syscall.EINVAL, false, dm.ErrTransactionMismatch},
		{"reserve_metadata_snap", syscall.EBUSY, false, dm.ErrMetadataSnapHeld},
		{"release_metadata_snap", syscall.EINVAL, false, dm.ErrNoMetadataSnap},
		{"bogus", syscall.EINVAL, false, dm.ErrBadMessage},
		{"create_thin 0", syscall.EINVAL, true, dm.ErrNoTable},
		{"create_thin 0", syscall.ENXIO, false, dm.ErrDeviceNotFound},
	}
	for _, c := range cases {
		err := messageError("pool", c.msg, c.errno, c.noTable)
		if !errors.Is(err, c.kind) || !errors.Is(err, c.errno) {
			t.Errorf("%q %v noTable=%v: got %v, want kind %v", c.msg, c.errno, c.noTable, err, c.kind)
		}
	}
}
