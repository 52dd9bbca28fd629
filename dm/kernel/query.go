package kernel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

// waitPollInterval bounds how long WaitEvent sleeps in poll(2) before it
// looks at ctx again.
const waitPollInterval = 100 * time.Millisecond

// Message sends a target message (DM_TARGET_MSG) and returns the target's
// reply, read from the data area when the kernel sets DM_DATA_OUT_FLAG.
// The call is never repeated: a message has side effects, so a reply that
// did not fit is reported as an error after the message took effect.
func (c *Control) Message(ctx context.Context, name string, sector uint64, msg string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	payload, err := packMessage(sector, msg)
	if err != nil {
		return "", &dm.Error{Op: opMessage, Device: name, Arg: msg, Kind: dm.ErrBadMessage, Errno: unix.EINVAL, Detail: err.Error()}
	}
	b, err := c.ioctl(unix.DM_TARGET_MSG, request{name: name, payload: payload}, msgReplyBuf, false)
	if err != nil {
		noTable := false
		if errors.Is(err, unix.EINVAL) {
			if info, ierr := c.Info(ctx, name); ierr == nil && !info.LiveTable {
				noTable = true
			}
		}
		return "", messageError(name, msg, err, noTable)
	}
	h := b.hdr()
	if h.Flags&unix.DM_DATA_OUT_FLAG == 0 {
		return "", nil
	}
	data, err := b.outData()
	if err != nil {
		return "", &dm.Error{Op: opMessage, Device: name, Arg: msg, Detail: err.Error()}
	}
	reply := cString(data)
	if h.Flags&unix.DM_BUFFER_FULL_FLAG != 0 {
		return reply, &dm.Error{Op: opMessage, Device: name, Arg: msg,
			Detail: fmt.Sprintf("reply longer than %d bytes was truncated (the message took effect)", msgReplyBuf)}
	}
	return reply, nil
}

// Status returns the live table's STATUSTYPE_INFO lines, params exactly
// as the target wrote them (a thin-pool's line ends in a blank).
func (c *Control) Status(ctx context.Context, name string, opts dm.StatusOptions) ([]dm.TargetStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var flags uint32
	if opts.NoFlush {
		flags |= unix.DM_NOFLUSH_FLAG
	}
	specs, err := c.tableStatus(name, flags)
	if err != nil {
		return nil, opError(opStatus, name, err, false)
	}
	out := make([]dm.TargetStatus, len(specs))
	for i, s := range specs {
		out[i] = dm.TargetStatus{Start: s.Start, Length: s.Length, Type: s.Type, Params: s.Params}
	}
	return out, nil
}

// Table returns the live (or with opts.Inactive the staged) table, params
// without the trailing blank some targets emit. A device without such a
// table yields an empty Table, as the kernel answers.
func (c *Control) Table(ctx context.Context, name string, opts dm.TableOptions) (dm.Table, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	flags := uint32(unix.DM_STATUS_TABLE_FLAG)
	if opts.Inactive {
		flags |= unix.DM_QUERY_INACTIVE_TABLE_FLAG
	}
	specs, err := c.tableStatus(name, flags)
	if err != nil {
		return nil, opError(opTable, name, err, false)
	}
	var t dm.Table
	for _, s := range specs {
		t = append(t, dm.Target{Start: s.Start, Length: s.Length, Type: s.Type, Params: strings.TrimRight(s.Params, " ")})
	}
	return t, nil
}

// tableStatus runs DM_TABLE_STATUS with flags and unpacks the targets.
func (c *Control) tableStatus(name string, flags uint32) ([]specLayout, error) {
	b, err := c.ioctl(unix.DM_TABLE_STATUS, request{name: name, flags: flags}, defaultBuf, true)
	if err != nil {
		return nil, err
	}
	data, err := b.outData()
	if err != nil {
		return nil, err
	}
	h := b.hdr()
	if flags&unix.DM_QUERY_INACTIVE_TABLE_FLAG != 0 && h.Flags&unix.DM_INACTIVE_PRESENT_FLAG == 0 {
		// The kernel falls back to nothing, not to the live table, but
		// says so only through the flag; be explicit.
		return nil, nil
	}
	return unpackSpecs(data, h.Target_count)
}

// WaitEvent waits until the device's event counter differs from afterEvent.
// It arms DM_DEV_ARM_POLL on a private control descriptor and polls it in
// short slices so that ctx is honoured; DM_DEV_WAIT would block in the
// kernel where no context can reach it.
func (c *Control) WaitEvent(ctx context.Context, name string, afterEvent uint32) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fd, err := unix.Open(c.controlPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &dm.Error{Op: opWait, Device: name, Detail: fmt.Sprintf("open %s: %v", c.controlPath, err)}
	}
	defer unix.Close(fd)
	for {
		// Arm first, then look: an event between the two is seen by
		// the look, an event after it wakes the poll.
		if _, err := doIoctl(fd, unix.DM_DEV_ARM_POLL, request{}, headerSize, false); err != nil {
			return 0, opError(opWait, name, err, false)
		}
		b, err := doIoctl(fd, unix.DM_DEV_STATUS, request{name: name}, headerSize, false)
		if err != nil {
			return 0, opError(opWait, name, err, false)
		}
		if ev := b.hdr().Event_nr; ev != afterEvent {
			return ev, nil
		}
		for {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pfd, int(waitPollInterval/time.Millisecond))
			if err != nil && !errors.Is(err, unix.EINTR) {
				return 0, &dm.Error{Op: opWait, Device: name, Detail: fmt.Sprintf("poll: %v", err)}
			}
			if n > 0 {
				break // some device raised an event: re-arm and look
			}
		}
	}
}
