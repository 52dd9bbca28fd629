package nbdclient

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/thinpool/nbd"
)

// memDevice is a dm.BlockDevice in memory, 512-byte aligned IO only, as
// the server's devices are.
type memDevice struct {
	mu      sync.Mutex
	b       []byte
	flushes int
}

func (m *memDevice) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off%512 != 0 || len(p)%512 != 0 {
		return 0, errors.New("unaligned read")
	}
	return copy(p, m.b[off:]), nil
}

func (m *memDevice) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off%512 != 0 || len(p)%512 != 0 {
		return 0, errors.New("unaligned write")
	}
	return copy(m.b[off:], p), nil
}
func (m *memDevice) Flush() error                    { m.mu.Lock(); m.flushes++; m.mu.Unlock(); return nil }
func (m *memDevice) Discard(off, length int64) error { return nil }
func (m *memDevice) Size() int64                     { return int64(len(m.b)) }
func (m *memDevice) Close() error                    { return nil }

// serve starts our NBD server on loopback with two exports.
func serve(t *testing.T) (addr string, vol, ro *memDevice) {
	t.Helper()
	vol, ro = &memDevice{b: make([]byte, 8<<20)}, &memDevice{b: bytes.Repeat([]byte{7}, 1<<20)}
	set := nbd.NewSet()
	if err := set.Add(&nbd.Export{Name: "vg0/lv1", Device: vol, BlockSize: 64 << 10}); err != nil {
		t.Fatal(err)
	}
	if err := set.Add(&nbd.Export{Name: "vg0/ro", Device: ro, BlockSize: 64 << 10, ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	srv := nbd.NewSourceServer(set, nbd.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), vol, ro
}

func TestReadWrite(t *testing.T) {
	addr, vol, _ := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := Dial(ctx, addr, "vg0/lv1")
	if err != nil {
		t.Fatal(err)
	}
	if cl.Size() != 8<<20 || cl.ReadOnly() {
		t.Fatalf("size %d read-only %v", cl.Size(), cl.ReadOnly())
	}
	// Unaligned, longer than one request, crossing request boundaries.
	data := make([]byte, 3<<20+123)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	if _, err := cl.WriteAt(data, 4097); err != nil {
		t.Fatal(err)
	}
	if err := cl.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vol.b[4097:4097+len(data)], data) {
		t.Fatal("the device does not hold what was written")
	}
	got := make([]byte, len(data))
	if _, err := cl.ReadAt(got, 4097); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	if _, err := cl.WriteAt([]byte{1}, int64(cl.Size())); err == nil {
		t.Fatal("write past the end accepted")
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if vol.flushes == 0 {
		t.Fatal("flush never reached the device")
	}
}

func TestRefusals(t *testing.T) {
	addr, _, _ := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Dial(ctx, addr, "vg0/nope")
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Code != repErrBit|6 {
		t.Fatalf("unknown export: %v", err)
	}
	cl, err := Dial(ctx, addr, "vg0/ro")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if !cl.ReadOnly() {
		t.Fatal("read-only export not reported so")
	}
	if _, err := cl.WriteAt(make([]byte, 512), 0); err == nil {
		t.Fatal("write to a read-only export accepted")
	}
	b := make([]byte, 1000)
	if _, err := cl.ReadAt(b, 5); err != nil || !bytes.Equal(b, bytes.Repeat([]byte{7}, 1000)) {
		t.Fatalf("read-only read: %v", err)
	}
	// Not an NBD server at all.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	defer ln.Close()
	if _, err := Dial(ctx, ln.Addr().String(), "x"); err == nil {
		t.Fatal("an HTTP server taken for NBD")
	}
}
