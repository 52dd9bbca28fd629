package kernel

import (
	"encoding/binary"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

func TestPackHeader(t *testing.T) {
	b, err := pack(request{name: "pool", uuid: "u-1", flags: unix.DM_SUSPEND_FLAG, eventNr: 7, payload: []byte("xyz")}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if uintptr(unsafe.Pointer(&b.b[0]))%8 != 0 {
		t.Fatal("buffer not 8-aligned")
	}
	h := b.hdr()
	if h.Version != [3]uint32{4, 0, 0} {
		t.Errorf("version %v, want 4.0.0 (the 6.1 kernel refuses newer minors)", h.Version)
	}
	if h.Data_size != 1000 || h.Data_start != headerSize || int(h.Data_size) != len(b.b) {
		t.Errorf("data_size %d data_start %d len %d", h.Data_size, h.Data_start, len(b.b))
	}
	if cString(h.Name[:]) != "pool" || cString(h.Uuid[:]) != "u-1" || h.Event_nr != 7 || h.Flags != unix.DM_SUSPEND_FLAG {
		t.Errorf("header fields wrong: %+v", h)
	}
	if string(b.b[headerSize:headerSize+3]) != "xyz" {
		t.Errorf("payload not at data_start")
	}
	// A payload bigger than the asked size grows the buffer.
	big, err := pack(request{payload: make([]byte, 5000)}, 100)
	if err != nil || len(big.b) < headerSize+5000 {
		t.Fatalf("buffer not grown for payload: %v len %d", err, len(big.b))
	}
	if _, err := pack(request{name: strings.Repeat("n", 128)}, 0); err == nil {
		t.Error("128-byte name accepted; the kernel needs a NUL within 128")
	}
	if _, err := pack(request{name: strings.Repeat("n", 127)}, 0); err != nil {
		t.Errorf("127-byte name refused: %v", err)
	}
}

// loadAsKernel walks a packed table the way the kernel's populate_table
// does: the first spec at data_start from the header, each next relative
// to the previous spec, params a C string after the spec.
func loadAsKernel(t *testing.T, payload []byte, count int) dm.Table {
	t.Helper()
	buf := make([]byte, headerSize+len(payload))
	copy(buf[headerSize:], payload)
	var out dm.Table
	pos, next := 0, headerSize
	for i := 0; i < count; i++ {
		pos += next
		if pos%8 != 0 {
			t.Fatalf("spec %d at %d is not 8-aligned", i, pos)
		}
		r := buf[pos:]
		p := r[specSize:]
		end := strings.IndexByte(string(p), 0)
		if end < 0 {
			t.Fatalf("spec %d params not terminated", i)
		}
		out = append(out, dm.Target{
			Start:  binary.LittleEndian.Uint64(r[0:]),
			Length: binary.LittleEndian.Uint64(r[8:]),
			Type:   cString(r[24:40]),
			Params: string(p[:end]),
		})
		next = int(binary.LittleEndian.Uint32(r[20:]))
	}
	return out
}

func TestPackTableAsKernelReadsIt(t *testing.T) {
	tbl := dm.Table{
		{Start: 0, Length: 2048, Type: "linear", Params: "/dev/loop0 0"},
		{Start: 2048, Length: 4096, Type: "thin-pool", Params: "/dev/loop1 /dev/loop2 128 0 1 skip_block_zeroing"},
		{Start: 6144, Length: 8, Type: "error", Params: ""},
		{Start: 6152, Length: 1, Type: "thin", Params: "/dev/mapper/p 1234567"},
	}
	payload, err := packTable(tbl)
	if err != nil {
		t.Fatal(err)
	}
	got := loadAsKernel(t, payload, len(tbl))
	if got.String() != tbl.String() {
		t.Errorf("kernel would read\n%s\nwant\n%s", got, tbl)
	}
	if _, err := packTable(dm.Table{{Length: 1, Type: "a-very-long-type-name", Params: ""}}); err == nil {
		t.Error("16-byte type name accepted")
	}
	if _, err := packTable(dm.Table{{Length: 1, Type: "linear", Params: "a\x00b"}}); err == nil {
		t.Error("NUL in params accepted")
	}
}

// statusAsKernel lays out specs the way retrieve_status does: next is an
// offset from the start of the data area, params 8-aligned after.
func statusAsKernel(specs []specLayout) []byte {
	var out []byte
	for _, s := range specs {
		rec := make([]byte, specSize)
		binary.LittleEndian.PutUint64(rec[0:], s.Start)
		binary.LittleEndian.PutUint64(rec[8:], s.Length)
		copy(rec[24:], s.Type)
		rec = append(rec, s.Params...)
		rec = append(rec, 0)
		for len(rec)%8 != 0 {
			rec = append(rec, 0xee) // garbage the kernel leaves in padding
		}
		binary.LittleEndian.PutUint32(rec[20:], uint32(len(out)+len(rec)))
		out = append(out, rec...)
	}
	return out
}

func TestUnpackSpecs(t *testing.T) {
	want := []specLayout{
		{0, 2097152, "thin-pool", "1 1648/16384 0/1024 - rw discard_passdown queue_if_no_space - 1024 "},
		{2097152, 100, "thin", "4096 206847"},
		{2097252, 1, "error", ""},
	}
	got, err := unpackSpecs(statusAsKernel(want), uint32(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d specs", len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("spec %d: got %+v want %+v", i, got[i], want[i])
		}
	}
	if _, err := unpackSpecs(statusAsKernel(want)[:50], 3); err == nil {
		t.Error("truncated data area accepted")
	}
	if got, err := unpackSpecs(nil, 0); err != nil || len(got) != 0 {
		t.Errorf("empty table: %v %v", got, err)
	}
}

func nameListAsKernel(entries []listEntry, withUUID bool) []byte {
	var out []byte
	prev := -1
	for _, e := range entries {
		start := len(out)
		rec := make([]byte, 12)
		binary.LittleEndian.PutUint64(rec, e.Dev)
		rec = append(rec, e.Name...)
		rec = append(rec, 0)
		for len(rec)%8 != 0 {
			rec = append(rec, 0)
		}
		tail := make([]byte, 8)
		binary.LittleEndian.PutUint32(tail, e.EventNr)
		if withUUID {
			if e.UUID != "" {
				binary.LittleEndian.PutUint32(tail[4:], unix.DM_NAME_LIST_FLAG_HAS_UUID)
			} else {
				binary.LittleEndian.PutUint32(tail[4:], unix.DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID)
			}
		}
		rec = append(rec, tail...)
		if withUUID && e.UUID != "" {
			rec = append(rec, e.UUID...)
			rec = append(rec, 0)
			for len(rec)%8 != 0 {
				rec = append(rec, 0)
			}
		}
		out = append(out, rec...)
		if prev >= 0 {
			binary.LittleEndian.PutUint32(out[prev+8:], uint32(start-prev))
		}
		prev = start
	}
	return out
}

func TestUnpackNameList(t *testing.T) {
	want := []listEntry{
		{Name: "pool", Dev: unix.Mkdev(254, 0), EventNr: 3, UUID: "thinraft-pool-1"},
		{Name: "t", Dev: unix.Mkdev(254, 1), EventNr: 0},
		{Name: "thin-with-a-longer-name-1234567", Dev: unix.Mkdev(254, 300), EventNr: 99, UUID: "u"},
	}
	for _, withUUID := range []bool{true, false} {
		got, err := unpackNameList(nameListAsKernel(want, withUUID))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d entries", len(got))
		}
		for i := range want {
			w := want[i]
			if !withUUID {
				w.UUID = ""
			}
			if got[i] != w {
				t.Errorf("uuid=%v entry %d: got %+v want %+v", withUUID, i, got[i], w)
			}
		}
	}
	// No devices: the kernel writes dev=0 in the first record, and the
	// data area it reports may not even include it.
	if got, err := unpackNameList(nil); err != nil || len(got) != 0 {
		t.Errorf("empty data area: %v %v", got, err)
	}
	if got, err := unpackNameList(make([]byte, 16)); err != nil || len(got) != 0 {
		t.Errorf("empty list: %v %v", got, err)
	}
}

func TestUnpackVersions(t *testing.T) {
	var data []byte
	names := []string{"thin-pool", "thin", "linear", "error"}
	for i, n := range names {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[4:], 1)
		binary.LittleEndian.PutUint32(rec[8:], uint32(22+i))
		rec = append(rec, n...)
		rec = append(rec, 0)
		for len(rec)%8 != 0 {
			rec = append(rec, 0)
		}
		if i < len(names)-1 {
			binary.LittleEndian.PutUint32(rec[0:], uint32(len(rec)))
		}
		data = append(data, rec...)
	}
	got, err := unpackVersions(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].Name != "thin-pool" || got[0].Version != [3]uint32{1, 22, 0} || got[3].Name != "error" || got[3].Version[1] != 25 {
		t.Errorf("got %+v", got)
	}
}

func TestPackMessage(t *testing.T) {
	p, err := packMessage(8, "create_thin 0")
	if err != nil {
		t.Fatal(err)
	}
	if len(p)%8 != 0 || binary.LittleEndian.Uint64(p) != 8 || cString(p[8:]) != "create_thin 0" {
		t.Errorf("bad message layout %q", p)
	}
	if _, err := packMessage(0, "a\x00b"); err == nil {
		t.Error("NUL in message accepted")
	}
}

func TestInfoFromHeader(t *testing.T) {
	b, _ := pack(request{name: "p", uuid: "u"}, 0)
	h := b.hdr()
	h.Dev = unix.Mkdev(254, 1000)
	h.Flags = unix.DM_SUSPEND_FLAG | unix.DM_ACTIVE_PRESENT_FLAG | unix.DM_INACTIVE_PRESENT_FLAG
	h.Open_count = 2
	h.Event_nr = 5
	h.Target_count = 1
	got := infoFromHeader(h)
	want := dm.DeviceInfo{Name: "p", UUID: "u", Major: 254, Minor: 1000, OpenCount: 2, TargetCount: 1,
		EventNr: 5, Suspended: true, LiveTable: true, InactiveTable: true}
	if got != want {
		t.Errorf("got %+v want %+v", got, want)
	}
}
