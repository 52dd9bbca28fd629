package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const memSize = 1 << 20

func memExport(dev *memDev) *Export {
	return &Export{Name: "vol", Device: dev, BlockSize: 64 << 10, DiscardUnmaps: true,
		Alloc: NewTracker(dev.Size(), 64<<10, []Span{{Begin: 2, Length: 1}}, true)}
}

func TestHandshakeOptions(t *testing.T) {
	_, sock := serve(t, memExport(newMemDev(memSize)), Options{})
	c := dial(t, sock)
	if f := c.hello(clientFixedNewstyle); f != flagFixedNewstyle|flagNoZeroes {
		t.Fatalf("handshake flags %#x", f)
	}
	expect := func(what string, got []optReply, types ...uint32) []optReply {
		t.Helper()
		if len(got) != len(types) {
			t.Fatalf("%s: replies %+v, want types %v", what, got, types)
		}
		for i := range types {
			if got[i].typ != types[i] {
				t.Fatalf("%s: reply %d type %#x, want %#x (%q)", what, i, got[i].typ, types[i], got[i].data)
			}
		}
		return got
	}
	r := expect("list", c.option(optList, nil), repServer, repAck)
	if !bytes.Equal(r[0].data, append([]byte{0, 0, 0, 3}, "vol"...)) {
		t.Fatalf("list: %q", r[0].data)
	}
	expect("list with data", c.option(optList, []byte{1}), repErrInvalid)
	expect("starttls", c.option(optStartTLS, nil), repErrPolicy)
	expect("unknown option", c.option(99, []byte("xyz")), repErrUnsup)
	expect("info of unknown export", c.option(optInfo, encGo("nope")), repErrUnknown)
	expect("malformed info", c.option(optInfo, []byte{0, 0, 0, 9, 'a'}), repErrInvalid)
	r = expect("info", c.option(optInfo, encGo("vol", infoName, infoBlockSize)), repInfo, repInfo, repInfo, repAck)
	if binary.BigEndian.Uint16(r[0].data) != infoExport || binary.BigEndian.Uint64(r[0].data[2:]) != memSize {
		t.Fatalf("info export: %x", r[0].data)
	}
	if f := binary.BigEndian.Uint16(r[0].data[10:]); f&tflagSendDF != 0 || f&tflagSendTrim == 0 || f&tflagSendZeroes == 0 {
		t.Fatalf("transmission flags %#x before structured replies", f)
	}
	if !bytes.Equal(r[1].data, append([]byte{0, byte(infoName)}, "vol"...)) {
		t.Fatalf("info name: %q", r[1].data)
	}
	if bs := r[2].data; binary.BigEndian.Uint16(bs) != infoBlockSize || binary.BigEndian.Uint32(bs[2:]) != 1 || binary.BigEndian.Uint32(bs[10:]) != 32<<20 {
		t.Fatalf("block size info %x", bs)
	}
	expect("meta before structured", c.option(optSetMetaContext, encMeta("", metaContextA)), repErrInvalid)
	expect("structured", c.option(optStructuredReply, nil), repAck)
	expect("structured twice", c.option(optStructuredReply, nil), repErrInvalid)
	r = expect("list meta, all", c.option(optListMetaContext, encMeta("")), repMetaContext, repAck)
	if !bytes.Equal(r[0].data[4:], []byte(metaContextA)) {
		t.Fatalf("list meta: %q", r[0].data)
	}
	expect("list meta base:", c.option(optListMetaContext, encMeta("vol", "base:")), repMetaContext, repAck)
	expect("list meta other ns", c.option(optListMetaContext, encMeta("vol", "qemu:dirty-bitmap:x")), repAck)
	expect("set meta, unknown export", c.option(optSetMetaContext, encMeta("x", metaContextA)), repErrUnknown)
	expect("set meta, nothing", c.option(optSetMetaContext, encMeta("", "x-foo:bar")), repAck)
	r = expect("set meta", c.option(optSetMetaContext, encMeta("", "x-foo:bar", metaContextA)), repMetaContext, repAck)
	if binary.BigEndian.Uint32(r[0].data) != metaContextID {
		t.Fatalf("meta context id %x", r[0].data)
	}
	expect("abort", c.option(optAbort, nil), repAck)
	if !c.closed() {
		t.Fatal("server kept the connection open after NBD_OPT_ABORT")
	}
}

func TestExportNameAndClientFlags(t *testing.T) {
	dev := newMemDev(memSize)
	_, sock := serve(t, memExport(dev), Options{})
	for _, noZeroes := range []bool{false, true} {
		c := dial(t, sock)
		flags := clientFixedNewstyle
		if noZeroes {
			flags |= clientNoZeroes
		}
		c.hello(flags)
		c.write(encOption(optExportName, []byte("vol")))
		b := c.read(10)
		if binary.BigEndian.Uint64(b) != memSize || binary.BigEndian.Uint16(b[8:])&tflagHasFlags == 0 {
			t.Fatalf("export name reply %x", b)
		}
		if !noZeroes && !bytes.Equal(c.read(exportNameZeroPads), make([]byte, exportNameZeroPads)) {
			t.Fatal("missing zero padding")
		}
		c.request(0, cmdWrite, 7, 512, 4, []byte("abcd"))
		if e, ck, _ := c.simple(0); e != 0 || ck != 7 {
			t.Fatalf("write: err %d cookie %d", e, ck)
		}
		c.request(0, cmdRead, 8, 510, 8, nil)
		if e, _, d := c.simple(8); e != 0 || !bytes.Equal(d, []byte{0, 0, 'a', 'b', 'c', 'd', 0, 0}) {
			t.Fatalf("read: err %d data %q", e, d)
		}
		c.request(0, cmdDisc, 9, 0, 0, nil)
		if !c.closed() {
			t.Fatal("connection open after NBD_CMD_DISC")
		}
	}
	// The disconnect flushed what was written.
	if dev.flushCount() == 0 {
		t.Fatal("no flush at disconnect after writes")
	}
	for name, flags := range map[string]uint32{"unknown client flag": 1 << 5} {
		c := dial(t, sock)
		c.hello(flags)
		if !c.closed() {
			t.Fatalf("%s: connection stays open", name)
		}
	}
	c := dial(t, sock)
	c.hello(clientFixedNewstyle)
	c.write(encOption(optExportName, []byte("other")))
	if !c.closed() {
		t.Fatal("unknown export via NBD_OPT_EXPORT_NAME: connection stays open")
	}
	c = dial(t, sock)
	c.hello(clientFixedNewstyle)
	c.write([]byte("not an option header"))
	if !c.closed() {
		t.Fatal("garbage option: connection stays open")
	}
}

func TestTransmissionSimple(t *testing.T) {
	dev := newMemDev(memSize)
	_, sock := serve(t, memExport(dev), Options{})
	c := dial(t, sock)
	size, flags := c.connect(false, false)
	if size != memSize || flags&tflagSendDF != 0 {
		t.Fatalf("size %d flags %#x", size, flags)
	}
	cases := []struct {
		name         string
		flags, typ   uint16
		off          uint64
		n            uint32
		payload      []byte
		want         uint32
		wantReadData bool
	}{
		{"read past end", 0, cmdRead, memSize - 10, 11, nil, errInval, false},
		{"write past end", 0, cmdWrite, memSize - 1, 2, []byte{1, 2}, errNoSpc, false},
		{"zeroes past end", 0, cmdWriteZeroes, memSize, 1, nil, errNoSpc, false},
		{"offset overflow", 0, cmdRead, 1<<64 - 1, 2, nil, errInval, false},
		{"unknown command", 0, 42, 0, 0, nil, errInval, false},
		{"cache not offered", 0, cmdCache, 0, 512, nil, errInval, false},
		{"flag not valid for read", cmdFlagNoHole, cmdRead, 0, 1, nil, errInval, false},
		{"DF without structured", cmdFlagDF, cmdRead, 0, 1, nil, errInval, false},
		{"fast zero not offered", cmdFlagFastZero, cmdWriteZeroes, 0, 1, nil, errInval, false},
		{"flush with offset", 0, cmdFlush, 1, 0, nil, errInval, false},
		{"block status without meta", 0, cmdBlockStatus, 0, 512, nil, errInval, false},
		{"read over the payload limit", 0, cmdRead, 0, 33<<20 + 1, nil, errOverflow, false},
		{"fua write", cmdFlagFUA, cmdWrite, 3, 3, []byte("xyz"), 0, false},
		{"fua read is accepted", cmdFlagFUA, cmdRead, 0, 8, nil, 0, true},
		{"zero-length write", 0, cmdWrite, 0, 0, nil, 0, false},
	}
	for i, tc := range cases {
		c.request(tc.flags, tc.typ, uint64(i), tc.off, tc.n, tc.payload)
		n := 0
		if tc.wantReadData {
			n = int(tc.n)
		}
		e, ck, _ := c.simple(n)
		if e != tc.want || ck != uint64(i) {
			t.Errorf("%s: error %d cookie %d, want %d cookie %d", tc.name, e, ck, tc.want, i)
		}
	}
	if d := dev.snapshot(); dev.flushCount() == 0 || !bytes.Equal(d[:6], []byte{0, 0, 0, 'x', 'y', 'z'}) {
		t.Fatalf("FUA write: flushes %d data %q", dev.flushCount(), d[:6])
	}
	// A bad request magic cannot be framed: hard disconnect.
	c.write(make([]byte, requestSize))
	if !c.closed() {
		t.Fatal("bad request magic: connection stays open")
	}
}

func TestTransmissionStructured(t *testing.T) {
	dev := newMemDev(memSize)
	exp := memExport(dev)
	_, sock := serve(t, exp, Options{})
	c := dial(t, sock)
	_, flags := c.connect(true, true)
	if flags&tflagSendDF == 0 {
		t.Fatalf("flags %#x without DF after structured replies", flags)
	}
	dev.WriteAt(append(make([]byte, 1000-512), append([]byte("hello"), make([]byte, 19)...)...), 512)
	c.request(cmdFlagDF, cmdRead, 1, 998, 9, nil)
	ch := c.chunk()
	if ch.typ != replyTypeOffsetData || ch.flags != replyFlagDone || binary.BigEndian.Uint64(ch.payload) != 998 ||
		!bytes.Equal(ch.payload[8:], []byte("\x00\x00hello\x00\x00")) {
		t.Fatalf("structured read: %+v", ch)
	}
	c.request(0, cmdRead, 2, memSize, 1, nil)
	ch = c.chunk()
	if ch.typ != replyTypeError || binary.BigEndian.Uint32(ch.payload) != errInval || ch.flags != replyFlagDone {
		t.Fatalf("structured error: %+v", ch)
	}
	if ml := binary.BigEndian.Uint16(ch.payload[4:]); int(ml) != len(ch.payload)-6 || ml == 0 {
		t.Fatalf("error message length %d of %d", ml, len(ch.payload))
	}
	// Block status: block 2 (128K..192K) is mapped, the rest a hole.
	c.request(0, cmdBlockStatus, 3, 100<<10, 200<<10, nil)
	ch = c.chunk()
	want := []uint32{metaContextID, 28 << 10, StateHole | StateZero, 64 << 10, 0, 108 << 10, StateHole | StateZero}
	if got := u32s(ch.payload); ch.typ != replyTypeBlockStat || !equalU32(got, want) {
		t.Fatalf("block status %v, want %v", got, want)
	}
	c.request(cmdFlagReqOne, cmdBlockStatus, 4, 100<<10, 200<<10, nil)
	if got := u32s(c.chunk().payload); !equalU32(got, want[:3]) {
		t.Fatalf("block status REQ_ONE %v", got)
	}
	// A write maps its blocks; WRITE_ZEROES without NO_HOLE unmaps whole
	// blocks; TRIM too.
	c.request(0, cmdWrite, 5, 300<<10, 1, []byte{9})
	if ch := c.chunk(); ch.typ != replyTypeNone || ch.cookie != 5 {
		t.Fatalf("write reply %+v", ch)
	}
	c.request(0, cmdWriteZeroes, 6, 128<<10, 64<<10, nil)
	c.request(0, cmdTrim, 7, 256<<10, 128<<10, nil)
	got := map[uint64]uint16{}
	for range 2 {
		ch := c.chunk()
		got[ch.cookie] = ch.typ
	}
	if got[6] != replyTypeNone || got[7] != replyTypeNone {
		t.Fatalf("replies %v", got)
	}
	c.request(0, cmdBlockStatus, 8, 0, memSize, nil)
	want = []uint32{metaContextID, memSize, StateHole | StateZero}
	if got := u32s(c.chunk().payload); !equalU32(got, want) {
		t.Fatalf("block status after zero/trim %v, want %v", got, want)
	}
	c.request(cmdFlagNoHole, cmdWriteZeroes, 9, 0, 64<<10, nil)
	c.chunk()
	c.request(0, cmdBlockStatus, 10, 0, 128<<10, nil)
	want = []uint32{metaContextID, 64 << 10, 0, 64 << 10, StateHole | StateZero}
	if got := u32s(c.chunk().payload); !equalU32(got, want) {
		t.Fatalf("block status after NO_HOLE zeroes %v, want %v", got, want)
	}
	c.request(0, cmdBlockStatus, 11, 0, 0, nil)
	if ch := c.chunk(); ch.typ != replyTypeError {
		t.Fatalf("zero-length block status: %+v", ch)
	}
}

func u32s(b []byte) []uint32 {
	var out []uint32
	for len(b) >= 4 {
		out = append(out, binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	return out
}

func equalU32(a, b []uint32) bool { return slices.Equal(a, b) }

// TestConcurrentUnalignedWrites: single-byte writes into the same sectors
// from many goroutines all survive (without the range lock, two
// read-modify-writes of one sector lose one of them).
func TestConcurrentUnalignedWrites(t *testing.T) {
	dev := newMemDev(64 << 10)
	// Reads that take a while widen the read-modify-write window, so the
	// test fails reliably without the lock.
	v := newVolume(&Export{Device: slowReads{dev}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 2048; i += 8 {
				if err := v.writeAt([]byte{byte(i%251 + 1)}, int64(i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := range 2048 {
		if dev.data[i] != byte(i%251+1) {
			t.Fatalf("byte %d lost: %#x", i, dev.data[i])
		}
	}
}

// TestUnalignedIO checks the sector widening against a byte model.
func TestUnalignedIO(t *testing.T) {
	dev := newMemDev(8 << 10)
	v := newVolume(&Export{Device: dev, BlockSize: 1024, DiscardUnmaps: false})
	ref := make([]byte, 8<<10)
	for i := range dev.data {
		dev.data[i], ref[i] = byte(i), byte(i)
	}
	ops := []struct {
		off, n int64
		zero   bool
	}{{1, 1, false}, {511, 2, false}, {0, 512, false}, {100, 3000, false}, {513, 510, true}, {1000, 5000, true}, {8191, 1, true}, {0, 8192, false}}
	for i, op := range ops {
		if op.zero {
			if err := v.writeZeroes(op.off, op.n, false); err != nil {
				t.Fatal(err)
			}
			clear(ref[op.off : op.off+op.n])
		} else {
			p := bytes.Repeat([]byte{byte(0xa0 + i)}, int(op.n))
			if err := v.writeAt(p, op.off); err != nil {
				t.Fatal(err)
			}
			copy(ref[op.off:], p)
		}
		if !bytes.Equal(dev.data, ref) {
			t.Fatalf("op %d %+v: %s", i, op, firstDiff(dev.data, ref))
		}
		got := make([]byte, 777)
		if err := v.readAt(got, 333); err != nil || !bytes.Equal(got, ref[333:333+777]) {
			t.Fatalf("op %d: unaligned read %v", i, err)
		}
	}
	if len(dev.discards) != 0 {
		t.Fatalf("discards %v on a device that does not unmap", dev.discards)
	}
}

type slowReads struct{ *memDev }

func (s slowReads) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(50 * time.Microsecond)
	return s.memDev.ReadAt(p, off)
}

// slowDev delays writes and counts concurrent ones.
type slowDev struct {
	*memDev
	delay      time.Duration
	cur, peak  atomic.Int32
	gate       chan struct{}
	started    chan struct{}
	startedOne sync.Once
}

func (s *slowDev) WriteAt(p []byte, off int64) (int, error) {
	n := s.cur.Add(1)
	for {
		pk := s.peak.Load()
		if n <= pk || s.peak.CompareAndSwap(pk, n) {
			break
		}
	}
	s.startedOne.Do(func() { close(s.started) })
	if s.gate != nil {
		<-s.gate
	}
	time.Sleep(s.delay)
	s.cur.Add(-1)
	return s.memDev.WriteAt(p, off)
}

func TestInFlightBoundedAndShutdownGraceful(t *testing.T) {
	dev := &slowDev{memDev: newMemDev(memSize), delay: 20 * time.Millisecond, gate: make(chan struct{}), started: make(chan struct{})}
	s, err := NewServer(&Export{Name: "vol", Device: dev}, Options{MaxInFlight: 2})
	if err != nil {
		t.Fatal(err)
	}
	sock := shortTempDir(t) + "/s"
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	c := dial(t, sock)
	c.connect(false, false)
	const n = 6
	for i := range n {
		c.request(0, cmdWrite, uint64(i), uint64(i)*512, 512, bytes.Repeat([]byte{byte(i + 1)}, 512))
	}
	<-dev.started
	time.Sleep(50 * time.Millisecond) // let the reader fill its budget
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	time.Sleep(20 * time.Millisecond)
	close(dev.gate)
	// Every request the server had read is answered before it closes.
	answered := 0
	for {
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		h := make([]byte, 16)
		if _, err := io.ReadFull(c.br, h); err != nil {
			break
		}
		if binary.BigEndian.Uint32(h[4:]) != 0 {
			t.Fatalf("write failed with %d", binary.BigEndian.Uint32(h[4:]))
		}
		answered++
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	if p := dev.peak.Load(); p > 2 {
		t.Fatalf("%d writes in flight with MaxInFlight 2", p)
	}
	if answered < 2 {
		t.Fatalf("only %d replies before close", answered)
	}
	d := dev.snapshot()
	for i := range answered {
		if d[i*512] != byte(i+1) {
			t.Fatalf("write %d answered but not on the device", i)
		}
	}
	if dev.flushCount() == 0 {
		t.Fatal("shutdown did not flush written data")
	}
	t.Logf("%d of %d pipelined writes answered before the graceful close; peak in flight %d", answered, n, dev.peak.Load())
}

func TestURIs(t *testing.T) {
	if got := UnixURI("/tmp/a b/s.sock", ""); got != "nbd+unix:///?socket=/tmp/a%20b/s.sock" {
		t.Fatal(got)
	}
	if got := UnixURI("/s", "vol1"); got != "nbd+unix:///vol1?socket=/s" {
		t.Fatal(got)
	}
	if got := TCPURI("127.0.0.1:10809", ""); got != "nbd://127.0.0.1:10809/" {
		t.Fatal(got)
	}
}
