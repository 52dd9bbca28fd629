package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

// interfaceVersion is what we claim to speak. The kernel accepts any minor
// up to its own and answers with its real version; x/sys's DM_VERSION_MINOR
// (50) is newer than Debian 12's kernel (47) and would be refused.
var interfaceVersion = [3]uint32{4, 0, 0}

const (
	headerSize  = unix.SizeofDmIoctl      // struct dm_ioctl, 312 bytes, 8-aligned
	specSize    = unix.SizeofDmTargetSpec // struct dm_target_spec, 40 bytes
	defaultBuf  = 16 << 10                // what libdevmapper starts with
	maxBuf      = 32 << 20                // give up doubling beyond this
	msgReplyBuf = 64 << 10                // messages are never retried: start big
)

// ioctlBuf is one DM ioctl argument: the header at offset 0, the data area
// after it. The backing array is []uint64 so that the header is 8-aligned.
type ioctlBuf struct {
	words []uint64
	b     []byte
}

func newIoctlBuf(size int) *ioctlBuf {
	if size < headerSize {
		size = headerSize
	}
	size = align8(size)
	w := make([]uint64, size/8)
	return &ioctlBuf{words: w, b: unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), size)}
}

func (b *ioctlBuf) hdr() *unix.DmIoctl { return (*unix.DmIoctl)(unsafe.Pointer(&b.words[0])) }

func (b *ioctlBuf) ptr() uintptr { return uintptr(unsafe.Pointer(&b.words[0])) }

// request describes one DM ioctl before packing.
type request struct {
	name        string
	uuid        string
	flags       uint32
	eventNr     uint32
	targetCount uint32
	payload     []byte
}

// pack builds the ioctl buffer of the given size for r. The payload is
// copied right after the header, where the kernel expects data_start.
func pack(r request, size int) (*ioctlBuf, error) {
	if len(r.name) >= unix.DM_NAME_LEN {
		return nil, fmt.Errorf("device name %q longer than %d bytes", r.name, unix.DM_NAME_LEN-1)
	}
	if len(r.uuid) >= unix.DM_UUID_LEN {
		return nil, fmt.Errorf("device uuid %q longer than %d bytes", r.uuid, unix.DM_UUID_LEN-1)
	}
	if need := headerSize + len(r.payload); size < need {
		size = need
	}
	b := newIoctlBuf(size)
	h := b.hdr()
	h.Version = interfaceVersion
	h.Data_size = uint32(len(b.b))
	h.Data_start = headerSize
	h.Flags = r.flags
	h.Event_nr = r.eventNr
	h.Target_count = r.targetCount
	copy(h.Name[:], r.name)
	copy(h.Uuid[:], r.uuid)
	copy(b.b[headerSize:], r.payload)
	return b, nil
}

// outData returns the data area the kernel wrote: data_start..data_size.
func (b *ioctlBuf) outData() ([]byte, error) {
	h := b.hdr()
	start, end := int(h.Data_start), int(h.Data_size)
	if end <= start {
		// Commands that return nothing leave data_size at or below
		// data_start (0, or the header's own length).
		return nil, nil
	}
	if start < headerSize || end > len(b.b) {
		return nil, fmt.Errorf("kernel returned a bad data area [%d,%d) in a %d-byte buffer", start, end, len(b.b))
	}
	return b.b[start:end], nil
}

func align8(n int) int { return (n + 7) &^ 7 }

// cString returns the bytes before the first NUL (all of b if none).
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// packTable lays out a table for DM_TABLE_LOAD: per target a dm_target_spec
// followed by its NUL-terminated params, padded to 8 bytes. For a load the
// kernel reads each spec's next as the distance from that spec to the
// following one (for status output it is an offset from the data area).
func packTable(t dm.Table) ([]byte, error) {
	var out []byte
	for i, tg := range t {
		if len(tg.Type) >= unix.DM_MAX_TYPE_NAME {
			return nil, fmt.Errorf("target %d: type %q longer than %d bytes", i, tg.Type, unix.DM_MAX_TYPE_NAME-1)
		}
		if bytes.IndexByte([]byte(tg.Params), 0) >= 0 || bytes.IndexByte([]byte(tg.Type), 0) >= 0 {
			return nil, fmt.Errorf("target %d: NUL byte in type or params", i)
		}
		rec := align8(specSize + len(tg.Params) + 1)
		r := make([]byte, rec)
		binary.LittleEndian.PutUint64(r[0:], tg.Start)
		binary.LittleEndian.PutUint64(r[8:], tg.Length)
		// status (int32) stays 0
		binary.LittleEndian.PutUint32(r[20:], uint32(rec))
		copy(r[24:24+unix.DM_MAX_TYPE_NAME], tg.Type)
		copy(r[specSize:], tg.Params)
		out = append(out, r...)
	}
	return out, nil
}

// specLayout is one target as the kernel returns it from DM_TABLE_STATUS.
type specLayout struct {
	Start, Length uint64
	Type          string
	Params        string
}

// unpackSpecs reads count targets from a DM_TABLE_STATUS data area. Each
// spec's next is an offset from the start of the data area.
func unpackSpecs(data []byte, count uint32) ([]specLayout, error) {
	var out []specLayout
	off := 0
	for i := uint32(0); i < count; i++ {
		if off < 0 || off+specSize > len(data) {
			return nil, fmt.Errorf("target %d: spec at %d beyond the %d-byte data area", i, off, len(data))
		}
		r := data[off:]
		s := specLayout{
			Start:  binary.LittleEndian.Uint64(r[0:]),
			Length: binary.LittleEndian.Uint64(r[8:]),
			Type:   cString(r[24 : 24+unix.DM_MAX_TYPE_NAME]),
		}
		p := r[specSize:]
		nul := bytes.IndexByte(p, 0)
		if nul < 0 {
			return nil, fmt.Errorf("target %d: params not NUL-terminated", i)
		}
		s.Params = string(p[:nul])
		out = append(out, s)
		next := int(binary.LittleEndian.Uint32(r[20:]))
		if i+1 < count && next <= off {
			return nil, fmt.Errorf("target %d: next offset %d does not advance past %d", i, next, off)
		}
		off = next
	}
	return out, nil
}

// listEntry is one device of DM_LIST_DEVICES.
type listEntry struct {
	Name    string
	Dev     uint64
	EventNr uint32
	UUID    string
}

// unpackNameList reads a DM_LIST_DEVICES data area: dm_name_list records
// (dev, next relative to the record, name), each followed at the next
// 8-byte boundary by event_nr and flags (and the uuid when the flags say
// so). An empty area, or a first record with dev 0, means no devices (the
// kernel writes dev 0 but does not count it in data_size).
func unpackNameList(data []byte) ([]listEntry, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var out []listEntry
	off := 0
	for {
		if off+12 > len(data) {
			return nil, fmt.Errorf("name list record at %d beyond the %d-byte data area", off, len(data))
		}
		r := data[off:]
		dev := binary.LittleEndian.Uint64(r[0:])
		if dev == 0 && off == 0 {
			return nil, nil
		}
		next := int(binary.LittleEndian.Uint32(r[8:]))
		nul := bytes.IndexByte(r[12:], 0)
		if nul < 0 {
			return nil, fmt.Errorf("name list record at %d: name not NUL-terminated", off)
		}
		e := listEntry{Name: string(r[12 : 12+nul]), Dev: dev}
		ev := align8(12 + nul + 1)
		if ev+8 <= len(r) && (next == 0 || ev+8 <= next) {
			e.EventNr = binary.LittleEndian.Uint32(r[ev:])
			flags := binary.LittleEndian.Uint32(r[ev+4:])
			if flags&unix.DM_NAME_LIST_FLAG_HAS_UUID != 0 {
				u := r[ev+8:]
				if i := bytes.IndexByte(u, 0); i >= 0 {
					e.UUID = string(u[:i])
				}
			}
		}
		out = append(out, e)
		if next == 0 {
			return out, nil
		}
		if next < 12 {
			return nil, fmt.Errorf("name list record at %d: next %d too small", off, next)
		}
		off += next
	}
}

// unpackVersions reads a DM_LIST_VERSIONS data area: dm_target_versions
// records (next relative to the record, version, name); next 0 ends it.
func unpackVersions(data []byte) ([]dm.TargetVersion, error) {
	var out []dm.TargetVersion
	off := 0
	for {
		if off+16 > len(data) {
			if off == 0 && len(data) < 16 {
				return nil, nil
			}
			return nil, fmt.Errorf("target version record at %d beyond the %d-byte data area", off, len(data))
		}
		r := data[off:]
		next := int(binary.LittleEndian.Uint32(r[0:]))
		nul := bytes.IndexByte(r[16:], 0)
		if nul < 0 {
			return nil, fmt.Errorf("target version record at %d: name not NUL-terminated", off)
		}
		out = append(out, dm.TargetVersion{
			Name: string(r[16 : 16+nul]),
			Version: [3]uint32{binary.LittleEndian.Uint32(r[4:]),
				binary.LittleEndian.Uint32(r[8:]), binary.LittleEndian.Uint32(r[12:])},
		})
		if next == 0 {
			return out, nil
		}
		if next < 16 {
			return nil, fmt.Errorf("target version record at %d: next %d too small", off, next)
		}
		off += next
	}
}

// packMessage builds a dm_target_msg: the sector, then the NUL-terminated text.
func packMessage(sector uint64, msg string) ([]byte, error) {
	if bytes.IndexByte([]byte(msg), 0) >= 0 {
		return nil, fmt.Errorf("NUL byte in message %q", msg)
	}
	out := make([]byte, align8(8+len(msg)+1))
	binary.LittleEndian.PutUint64(out, sector)
	copy(out[8:], msg)
	return out, nil
}

// devNumbers splits the kernel's huge_encode_dev() form of a dev_t.
func devNumbers(dev uint64) (major, minor uint32) {
	return unix.Major(dev), unix.Minor(dev)
}

// infoFromHeader turns a DM_DEV_STATUS-style answer into a DeviceInfo.
func infoFromHeader(h *unix.DmIoctl) dm.DeviceInfo {
	maj, min := devNumbers(h.Dev)
	return dm.DeviceInfo{
		Name:          cString(h.Name[:]),
		UUID:          cString(h.Uuid[:]),
		Major:         maj,
		Minor:         min,
		OpenCount:     h.Open_count,
		TargetCount:   h.Target_count,
		EventNr:       h.Event_nr,
		Suspended:     h.Flags&unix.DM_SUSPEND_FLAG != 0,
		LiveTable:     h.Flags&unix.DM_ACTIVE_PRESENT_FLAG != 0,
		InactiveTable: h.Flags&unix.DM_INACTIVE_PRESENT_FLAG != 0,
		ReadOnly:      h.Flags&unix.DM_READONLY_FLAG != 0,
	}
}
