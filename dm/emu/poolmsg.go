package emu

import (
	"errors"
	"syscall"

	"github.com/thinraft/thinraft/dm"
)

// message is pool_message: the read-only check comes before any parsing,
// then the verb's handler, then a commit if the handler succeeded.
func (pt *poolTarget) message(msg string) (string, error) {
	p := pt.p
	p.mu.Lock()
	defer p.mu.Unlock()
	name := pt.owner.name
	fail := func(errno syscall.Errno, detail string, a ...any) error {
		e := dm.MessageError(name, msg, errno)
		e.Detail = sprintf(detail, a...)
		p.logf("warn", "%s", e.Detail)
		return e
	}
	if p.mode >= modeOutOfMetadataSpace {
		return "", fail(syscall.EOPNOTSUPP, "unable to service pool target messages in READ_ONLY or FAIL mode")
	}
	m, err := dm.ParseMessage(msg)
	if err != nil {
		return "", fail(syscall.EINVAL, "%v", err)
	}
	md := p.md
	switch m.Verb {
	case dm.MsgCreateThin:
		if err := md.createThin(uint32(m.ID)); err != nil {
			return "", fail(syscall.EEXIST, "Creation of new thinly-provisioned device with id %d failed.", m.ID)
		}
	case dm.MsgCreateSnap:
		if err := md.createSnap(uint32(m.ID), uint32(m.Origin)); err != nil {
			errno := syscall.ENODATA
			if errors.Is(err, errExists) {
				errno = syscall.EEXIST
			}
			return "", fail(errno, "Creation of new snapshot %d of device %d failed.", m.ID, m.Origin)
		}
	case dm.MsgDelete:
		if _, ok := md.devs[uint32(m.ID)]; !ok {
			return "", fail(syscall.ENODATA, "Deletion of thin device %d failed.", m.ID)
		}
		if p.openIDs[uint32(m.ID)] > 0 {
			return "", fail(syscall.EBUSY, "Deletion of thin device %d failed.", m.ID)
		}
		md.deleteThin(uint32(m.ID))
	case dm.MsgSetTransactionID:
		if err := md.setTransaction(m.OldTxn, m.NewTxn); err != nil {
			return "", fail(syscall.EINVAL, "Failed to change transaction id from %d to %d.", m.OldTxn, m.NewTxn)
		}
	case dm.MsgReserveMetadataSnap:
		// The kernel commits before it looks for an existing snapshot.
		if err := p.commit(); err != nil {
			return "", fail(syscall.EINVAL, "reserve_metadata_snap message failed.")
		}
		if md.heldRoot != 0 {
			return "", fail(syscall.EBUSY, "Pool metadata snapshot already exists: release this before taking another.")
		}
		if err := p.st.hold(md); err != nil {
			p.metadataOperationFailed("dm_pool_reserve_metadata_snap", err)
			return "", fail(syscall.EIO, "reserve_metadata_snap message failed.")
		}
		md.heldRoot = p.st.sb.held
		md.pinHeld()
	case dm.MsgReleaseMetadataSnap:
		if md.heldRoot == 0 {
			return "", fail(syscall.EINVAL, "No pool metadata snapshot found: nothing to release.")
		}
		p.heldRead.Lock()
		err := p.st.releaseHeld()
		p.heldRead.Unlock()
		if err != nil {
			p.metadataOperationFailed("dm_pool_release_metadata_snap", err)
			return "", fail(syscall.EIO, "release_metadata_snap message failed.")
		}
		md.heldRoot = 0
		md.unpinHeld()
	}
	p.commit()
	return "", nil
}
