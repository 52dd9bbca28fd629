package emu

import (
	"encoding/binary"
	"fmt"
)

// Journal operations. A commit record is the sequence of operations made in
// one transaction, in order; replaying them on the state of the previous
// commit reproduces the state of this one exactly (data reference counts
// included, since they are derived from the mappings).
const (
	opCreateThin byte = iota + 1
	opCreateSnap
	opDelete
	opSetTxn
	opSetMapping
	opRemoveMapping
	opResizeData
	opResizeMeta
)

func (m *meta) logOp(op byte, args ...uint64) {
	if m.jr == nil && m.replaying() {
		return
	}
	m.jr = append(m.jr, op)
	for _, a := range args {
		m.jr = binary.AppendUvarint(m.jr, a)
	}
	m.dirty = true
}

// replaying reports whether changes are being replayed from disk (then
// they are not logged again). A nil-but-non-empty marker would be fragile,
// so replay sets jr to nil and normal operation keeps it non-nil.
func (m *meta) replaying() bool { return m.jr == nil }

func (m *meta) logCreateThin(id uint32) { m.logOp(opCreateThin, uint64(id)) }
func (m *meta) logCreateSnap(id, origin uint32) {
	m.logOp(opCreateSnap, uint64(id), uint64(origin))
}
func (m *meta) logDelete(id uint32)    { m.logOp(opDelete, uint64(id)) }
func (m *meta) logSetTxn(v uint64)     { m.logOp(opSetTxn, v) }
func (m *meta) logResizeData(n uint64) { m.logOp(opResizeData, n) }
func (m *meta) logResizeMeta(n uint64) { m.logOp(opResizeMeta, n) }
func (m *meta) logSetMapping(dev uint32, vb, b uint64, t uint32) {
	m.logOp(opSetMapping, uint64(dev), vb, b, uint64(t))
}
func (m *meta) logRemoveMapping(dev uint32, vb uint64) {
	m.logOp(opRemoveMapping, uint64(dev), vb)
}

// resizeMeta records a grown metadata device.
func (m *meta) resizeMeta(n uint64) {
	m.metaBlocks = n
	m.logResizeMeta(n)
}

// startLogging makes m record changes (after load/replay).
func (m *meta) startLogging() {
	if m.jr == nil {
		m.jr = make([]byte, 0, 4096)
	}
}

// apply replays one commit record's operations on m (which must not be
// logging). It validates everything it applies: a record that does not
// fit the state is corruption.
func (m *meta) apply(rec []byte) error {
	p := rec
	next := func() (uint64, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, fmt.Errorf("truncated journal operation")
		}
		p = p[n:]
		return v, nil
	}
	args := func(k int) ([4]uint64, error) {
		var a [4]uint64
		for i := 0; i < k; i++ {
			v, err := next()
			if err != nil {
				return a, err
			}
			a[i] = v
		}
		return a, nil
	}
	for len(p) > 0 {
		op := p[0]
		p = p[1:]
		var err error
		var a [4]uint64
		switch op {
		case opCreateThin:
			if a, err = args(1); err == nil {
				err = m.createThin(uint32(a[0]))
			}
		case opCreateSnap:
			if a, err = args(2); err == nil {
				err = m.createSnap(uint32(a[0]), uint32(a[1]))
			}
		case opDelete:
			if a, err = args(1); err == nil {
				err = m.deleteThin(uint32(a[0]))
			}
		case opSetTxn:
			if a, err = args(1); err == nil {
				m.txn = a[0]
			}
		case opSetMapping:
			if a, err = args(4); err == nil {
				d := m.devs[uint32(a[0])]
				switch {
				case d == nil:
					err = fmt.Errorf("mapping for missing device %d", a[0])
				case a[2] >= m.nrDataBlocks:
					err = fmt.Errorf("mapping to data block %d beyond %d", a[2], m.nrDataBlocks)
				default:
					m.inc(a[2])
					m.setMapping(d, a[1], a[2], uint32(a[3]))
				}
			}
		case opRemoveMapping:
			if a, err = args(2); err == nil {
				d := m.devs[uint32(a[0])]
				if d == nil || !m.removeMapping(d, a[1]) {
					err = fmt.Errorf("unmapping %d of device %d: not mapped", a[1], a[0])
				}
			}
		case opResizeData:
			if a, err = args(1); err == nil {
				if a[0] < m.nrDataBlocks {
					err = fmt.Errorf("data device shrinks from %d to %d blocks", m.nrDataBlocks, a[0])
				} else {
					m.resizeData(a[0])
				}
			}
		case opResizeMeta:
			if a, err = args(1); err == nil {
				m.metaBlocks = a[0]
			}
		default:
			err = fmt.Errorf("unknown journal operation %d", op)
		}
		if err != nil {
			return fmt.Errorf("journal op %d: %w", op, err)
		}
	}
	return nil
}
