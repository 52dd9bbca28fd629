package kernel

import (
	"bytes"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

func TestVMMessageErrors(t *testing.T) {
	c := newControl(t)
	ctx := ctxT(t)
	p := newPool(t, c, 64<<20, 0, dm.PoolFeatures{})
	p.msg(t, dm.CreateThinMsg(0))
	p.msg(t, dm.SetTransactionIDMsg(0, 2))
	cases := []struct {
		msg   string
		kind  error
		errno syscall.Errno
	}{
		{dm.CreateThinMsg(0), dm.ErrThinIDExists, syscall.EEXIST},
		{dm.CreateSnapMsg(5, 42), dm.ErrThinIDNotFound, syscall.ENODATA},
		{dm.DeleteMsg(42), dm.ErrThinIDNotFound, syscall.ENODATA},
		{dm.SetTransactionIDMsg(7, 8), dm.ErrTransactionMismatch, syscall.EINVAL},
		{dm.SetTransactionIDMsg(1, 2), dm.ErrTransactionMismatch, syscall.EINVAL},
		{"bogus_message", dm.ErrBadMessage, syscall.EINVAL},
		{dm.MsgReleaseMetadataSnap, dm.ErrNoMetadataSnap, syscall.EINVAL},
	}
	for _, tc := range cases {
		_, err := c.Message(ctx, p.name, 0, tc.msg)
		wantErr(t, err, tc.kind, tc.errno)
	}
	if st := p.status(t); st.TransactionID != 2 {
		t.Errorf("refused messages changed the pool: %+v", st)
	}

	// One held metadata root at a time.
	p.msg(t, dm.MsgReserveMetadataSnap)
	if st := p.status(t); !st.HasHeldRoot {
		t.Errorf("status after reserve: %+v", st)
	}
	_, err := c.Message(ctx, p.name, 0, dm.MsgReserveMetadataSnap)
	wantErr(t, err, dm.ErrMetadataSnapHeld, syscall.EBUSY)
	p.msg(t, dm.MsgReleaseMetadataSnap)
	if st := p.status(t); st.HasHeldRoot {
		t.Errorf("status after release: %+v", st)
	}

	// Deleting an active thin is EBUSY; an inactive one goes.
	thin, tbd := p.thin(t, "t0", 0, 1<<20)
	_, err = c.Message(ctx, p.name, 0, dm.DeleteMsg(0))
	wantErr(t, err, dm.ErrThinIDActive, syscall.EBUSY)
	// The pool is open (the thin holds it): removing it is EBUSY, retried.
	start := time.Now()
	err = c.Remove(ctx, p.name, dm.RemoveOptions{Retries: 2, RetryDelay: 50 * time.Millisecond})
	wantErr(t, err, dm.ErrDeviceBusy, syscall.EBUSY)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("Remove gave up after %v, want 2 retries 50ms apart", d)
	}
	// Our own open descriptor holds the thin too.
	err = c.Remove(ctx, thin, dm.RemoveOptions{})
	wantErr(t, err, dm.ErrDeviceBusy, syscall.EBUSY)
	tbd.Close()
	if err := c.Remove(ctx, thin, dm.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(c.DevPath(thin)); !os.IsNotExist(err) {
		t.Errorf("node %s left after Remove: %v", c.DevPath(thin), err)
	}
	p.msg(t, dm.DeleteMsg(0))
}

func TestVMDeviceErrors(t *testing.T) {
	c := newControl(t)
	ctx := ctxT(t)
	p := newPool(t, c, 64<<20, 0, dm.PoolFeatures{})

	_, err := c.Create(ctx, p.name, dm.CreateOptions{})
	wantErr(t, err, dm.ErrDeviceExists, syscall.EBUSY)

	missing := devName(t, "missing")
	_, err = c.Info(ctx, missing)
	wantErr(t, err, dm.ErrDeviceNotFound, syscall.ENXIO)
	err = c.Remove(ctx, missing, dm.RemoveOptions{})
	wantErr(t, err, dm.ErrDeviceNotFound, syscall.ENXIO)
	_, err = c.Message(ctx, missing, 0, dm.CreateThinMsg(1))
	wantErr(t, err, dm.ErrDeviceNotFound, syscall.ENXIO)
	_, err = c.Status(ctx, missing, dm.StatusOptions{})
	wantErr(t, err, dm.ErrDeviceNotFound, syscall.ENXIO)
	err = c.Suspend(ctx, missing, dm.SuspendOptions{})
	wantErr(t, err, dm.ErrDeviceNotFound, syscall.ENXIO)

	// A bad table: refused at load, and the half-made device is gone.
	bad := p.params
	bad.DataBlockSectors = 100
	name := devName(t, "badblock")
	_, err = c.Create(ctx, name, dm.CreateOptions{Table: dm.Table{bad.Target(1 << 10)}})
	wantErr(t, err, dm.ErrInvalidTable, syscall.EINVAL)
	if _, err := c.Info(ctx, name); err == nil {
		t.Errorf("device %s left behind after a refused create", name)
	}
	// A thin table naming a pool node that does not exist.
	tp := dm.ThinParams{PoolDev: c.DevPath(missing), ID: 0}
	_, err = c.Create(ctx, devName(t, "nopool"), dm.CreateOptions{Table: dm.Table{tp.Target(2048)}})
	wantErr(t, err, dm.ErrInvalidTable, nil)

	// A message to a device without a table.
	empty := devName(t, "empty")
	info, err := c.Create(ctx, empty, dm.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.LiveTable || info.InactiveTable || info.Major == 0 {
		t.Errorf("Info of an empty device %+v", info)
	}
	if st, err := os.Stat(c.DevPath(empty)); err != nil || st.Mode()&os.ModeDevice == 0 {
		t.Errorf("no block node for %s: %v", empty, err)
	}
	_, err = c.Message(ctx, empty, 0, dm.CreateThinMsg(1))
	wantErr(t, err, dm.ErrNoTable, syscall.EINVAL)
	_, err = c.Open(ctx, empty)
	wantErr(t, err, dm.ErrNoTable, nil)
	if st, err := c.Status(ctx, empty, dm.StatusOptions{}); err != nil || len(st) != 0 {
		t.Errorf("status of an empty device: %v %v", st, err)
	}
	if err := c.Remove(ctx, empty, dm.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestVMOutOfDataSpace(t *testing.T) {
	c := newControl(t)
	p := newPool(t, c, 4*64<<10, 0, dm.PoolFeatures{ErrorIfNoSpace: true})
	p.msg(t, dm.CreateThinMsg(0))
	_, bd := p.thin(t, "t", 0, 16*64<<10)
	if _, err := bd.WriteAt(pattern(5, 4*64<<10), 0); err != nil {
		t.Fatal(err)
	}
	// error_if_no_space: the kernel fails the bio with BLK_STS_NOSPC,
	// which reaches userspace as ENOSPC (not EIO).
	_, err := bd.WriteAt(pattern(6, 64<<10), 8*64<<10)
	wantErr(t, err, dm.ErrNoSpace, syscall.ENOSPC)
	if st := p.status(t); st.Mode != dm.ModeOutOfDataSpace || st.UsedDataBlocks != 4 {
		t.Errorf("status when full: %+v", st)
	}
	got := make([]byte, 4*64<<10)
	if _, err := bd.ReadAt(got, 0); err != nil || !bytes.Equal(got, pattern(5, 4*64<<10)) {
		t.Errorf("mapped data unreadable when full: %v", err)
	}
}
