package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// serveSet starts a server for src on a unix socket; it is shut down when
// the test ends.
func serveSet(t *testing.T, src Source) string {
	t.Helper()
	s := NewSourceServer(src, Options{})
	sock := filepath.Join(shortTempDir(t), "nbd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return sock
}

// goTo negotiates simple replies and enters transmission on export name;
// it returns the reply types and the size the server announced.
func (c *client) goTo(name string) ([]uint32, uint64) {
	c.t.Helper()
	c.hello(clientFixedNewstyle | clientNoZeroes)
	return c.goTo2(name)
}

func named(name string, dev *memDev) *Export {
	return &Export{Name: name, Device: dev, BlockSize: 64 << 10}
}

func TestSetServesManyExports(t *testing.T) {
	set := NewSet()
	a, b := newMemDev(64<<10), newMemDev(128<<10)
	ea, eb := named("vg0/a", a), named("vg0/b", b)
	if err := set.Add(ea, "uuid-a"); err != nil {
		t.Fatal(err)
	}
	if err := set.Add(eb); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		exp     *Export
		aliases []string
	}{{named("vg0/a", newMemDev(512)), nil}, {named("vg0/c", newMemDev(512)), []string{"uuid-a"}}, {ea, nil}, {named("vg0/d", newMemDev(512)), []string{""}}} {
		if err := set.Add(bad.exp, bad.aliases...); err == nil {
			t.Fatalf("Add(%q, %q) accepted a taken or bad name", bad.exp.Name, bad.aliases)
		}
	}
	sock := serveSet(t, set)

	c := dial(t, sock)
	c.hello(clientFixedNewstyle)
	r := c.option(optList, nil)
	if len(r) != 3 || !bytes.Equal(r[0].data[4:], []byte("vg0/a")) || !bytes.Equal(r[1].data[4:], []byte("vg0/b")) || r[2].typ != repAck {
		t.Fatalf("list: %+v", r)
	}
	for _, tc := range []struct {
		name string
		typ  uint32
	}{{"", repErrUnknown}, {"vg0/zz", repErrUnknown}, {"uuid-a", repAck}} {
		r := c.option(optInfo, encGo(tc.name))
		if last := r[len(r)-1]; last.typ != tc.typ {
			t.Fatalf("info %q: last reply %#x, want %#x", tc.name, last.typ, tc.typ)
		}
	}
	if r := c.option(optGo, encGo("nope")); r[0].typ != repErrUnknown {
		t.Fatalf("GO of an unknown export: %+v", r)
	}

	// The alias and the name reach the same device; each export its own.
	types, size := c.goTo2("uuid-a")
	if size != 64<<10 || types[len(types)-1] != repAck {
		t.Fatalf("GO uuid-a: %v size %d", types, size)
	}
	c.request(0, cmdWrite, 1, 0, 512, bytes.Repeat([]byte{7}, 512))
	if e, _, _ := c.simple(0); e != 0 {
		t.Fatalf("write: error %d", e)
	}
	if ea.Clients() != 1 || eb.Clients() != 0 {
		t.Fatalf("clients %d/%d, want 1/0", ea.Clients(), eb.Clients())
	}
	d := dial(t, sock)
	if _, size := d.goTo("vg0/b"); size != 128<<10 {
		t.Fatalf("vg0/b size %d", size)
	}
	d.request(0, cmdRead, 2, 0, 512, nil)
	if e, _, data := d.simple(512); e != 0 || !bytes.Equal(data, make([]byte, 512)) {
		t.Fatalf("read of vg0/b: %d %x", e, data[:4])
	}
	if a.data[0] != 7 || b.data[0] != 0 {
		t.Fatal("the write went to the wrong device")
	}

	// EXPORT_NAME cannot be refused politely: the server hangs up.
	e := dial(t, sock)
	e.hello(clientFixedNewstyle)
	e.write(encOption(optExportName, []byte("nope")))
	if !e.closed() {
		t.Fatal("EXPORT_NAME of an unknown export left the connection open")
	}
}

// goTo2 is goTo on a client that has already said hello.
func (c *client) goTo2(name string) ([]uint32, uint64) {
	c.t.Helper()
	var types []uint32
	var size uint64
	for _, r := range c.option(optGo, encGo(name)) {
		types = append(types, r.typ)
		if r.typ == repInfo && binary.BigEndian.Uint16(r.data) == infoExport {
			size = binary.BigEndian.Uint64(r.data[2:])
		}
	}
	return types, size
}

// TestStopExport: stopping one export answers the requests its clients
// sent, flushes, disconnects them and refuses new ones, while another
// export keeps serving; OnClients follows the count.
func TestStopExport(t *testing.T) {
	set := NewSet()
	a, b := newMemDev(64<<10), newMemDev(64<<10)
	var changes atomic.Int32
	ea, eb := named("a", a), named("b", b)
	ea.OnClients = func() { changes.Add(1) }
	for _, e := range []*Export{ea, eb} {
		if err := set.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	sock := serveSet(t, set)
	c1, c2, other := dial(t, sock), dial(t, sock), dial(t, sock)
	c1.goTo("a")
	c2.goTo("a")
	other.goTo("b")
	if ea.Clients() != 2 || changes.Load() != 2 {
		t.Fatalf("clients %d after 2 connections, %d change calls", ea.Clients(), changes.Load())
	}
	c1.request(0, cmdWrite, 1, 512, 512, bytes.Repeat([]byte{9}, 512))
	if e, _, _ := c1.simple(0); e != 0 {
		t.Fatalf("write: %d", e)
	}
	flushes := a.flushCount()

	set.Remove(ea)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ea.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !c1.closed() || !c2.closed() {
		t.Fatal("a client of the stopped export is still connected")
	}
	if ea.Clients() != 0 || changes.Load() != 4 {
		t.Fatalf("after Stop: %d clients, %d change calls", ea.Clients(), changes.Load())
	}
	if a.flushCount() <= flushes {
		t.Fatal("the written connection was not flushed at disconnect")
	}
	// Found again by a stale Source, the stopped export still refuses.
	if err := ea.attach(&conn{}); !errors.Is(err, ErrExportClosed) {
		t.Fatalf("attach to a stopped export: %v", err)
	}
	n := dial(t, sock)
	if types, _ := n.goTo("a"); types[0] != repErrUnknown {
		t.Fatalf("GO of a removed export: %#x", types)
	}
	other.request(0, cmdRead, 2, 0, 512, nil)
	if e, _, _ := other.simple(512); e != 0 {
		t.Fatalf("the other export stopped serving: %d", e)
	}
	if err := ea.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestGrownExport: a connection keeps the size it started with; the next
// one sees the device's new size, and BLOCK_STATUS covers the new tail.
func TestGrownExport(t *testing.T) {
	dev := newMemDev(64 << 10)
	exp := memExport(dev)
	_, sock := serve(t, exp, Options{})
	c := dial(t, sock)
	if size, _ := c.connect(true, true); size != 64<<10 {
		t.Fatalf("size %d", size)
	}
	dev.mu.Lock()
	dev.data = append(dev.data, make([]byte, 64<<10)...)
	dev.mu.Unlock()
	d := dial(t, sock)
	if size, _ := d.connect(true, true); size != 128<<10 {
		t.Fatalf("size after growth %d, want %d", size, 128<<10)
	}
	d.request(0, cmdBlockStatus, 1, 64<<10, 64<<10, nil)
	ch := d.chunk()
	if ch.typ != replyTypeBlockStat || len(ch.payload) != 12 || binary.BigEndian.Uint32(ch.payload[8:]) != StateHole|StateZero {
		t.Fatalf("block status of the grown tail: %+v", ch)
	}
	c.request(0, cmdRead, 2, 64<<10, 512, nil)
	if ch := c.chunk(); ch.typ != replyTypeError {
		t.Fatalf("a read past the size the connection started with: %+v", ch)
	}
}
