package nbd

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// A minimal NBD client for protocol tests and fuzz seeds. The encoders are
// plain functions so seeds can be built without a connection.

func encOption(opt uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, magicOpt)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

func encGo(name string, infos ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(infos)))
	for _, i := range infos {
		b = binary.BigEndian.AppendUint16(b, i)
	}
	return b
}

func encMeta(name string, queries ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(queries)))
	for _, q := range queries {
		b = binary.BigEndian.AppendUint32(b, uint32(len(q)))
		b = append(b, q...)
	}
	return b
}

func encRequest(flags, typ uint16, cookie, off uint64, length uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magicRequest)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, cookie)
	b = binary.BigEndian.AppendUint64(b, off)
	b = binary.BigEndian.AppendUint32(b, length)
	return append(b, payload...)
}

type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, sock string) *client {
	t.Helper()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("client write: %v", err)
	}
}

func (c *client) read(n int) []byte {
	c.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c.br, b); err != nil {
		c.t.Fatalf("client read %d bytes: %v", n, err)
	}
	return b
}

// hello reads the greeting and sends client flags.
func (c *client) hello(flags uint32) uint16 {
	c.t.Helper()
	g := c.read(18)
	if binary.BigEndian.Uint64(g) != magicInit || binary.BigEndian.Uint64(g[8:]) != magicOpt {
		c.t.Fatalf("bad greeting %x", g)
	}
	c.write(binary.BigEndian.AppendUint32(nil, flags))
	return binary.BigEndian.Uint16(g[16:])
}

type optReply struct {
	opt, typ uint32
	data     []byte
}

func (c *client) optReply() optReply {
	c.t.Helper()
	h := c.read(20)
	if binary.BigEndian.Uint64(h) != magicOptReply {
		c.t.Fatalf("bad option reply magic %x", h)
	}
	return optReply{binary.BigEndian.Uint32(h[8:]), binary.BigEndian.Uint32(h[12:]), c.read(int(binary.BigEndian.Uint32(h[16:])))}
}

// option sends an option and collects replies up to the final one.
func (c *client) option(opt uint32, data []byte) []optReply {
	c.t.Helper()
	c.write(encOption(opt, data))
	var out []optReply
	for {
		r := c.optReply()
		if r.opt != opt {
			c.t.Fatalf("reply for option %d, sent %d", r.opt, opt)
		}
		out = append(out, r)
		if r.typ == repAck || r.typ&(1<<31) != 0 {
			return out
		}
	}
}

// connect negotiates structured replies and base:allocation as asked and
// enters transmission with NBD_OPT_GO; it returns size and flags.
func (c *client) connect(structured, meta bool) (uint64, uint16) {
	c.t.Helper()
	c.hello(clientFixedNewstyle | clientNoZeroes)
	if structured {
		if r := c.option(optStructuredReply, nil); r[0].typ != repAck {
			c.t.Fatalf("structured reply refused: %+v", r)
		}
	}
	if meta {
		r := c.option(optSetMetaContext, encMeta("", metaContextA))
		if len(r) != 2 || r[0].typ != repMetaContext {
			c.t.Fatalf("set meta context: %+v", r)
		}
	}
	var size uint64
	var flags uint16
	for _, r := range c.option(optGo, encGo("")) {
		if r.typ == repInfo && binary.BigEndian.Uint16(r.data) == infoExport {
			size, flags = binary.BigEndian.Uint64(r.data[2:]), binary.BigEndian.Uint16(r.data[10:])
		} else if r.typ != repInfo && r.typ != repAck {
			c.t.Fatalf("GO refused: %+v", r)
		}
	}
	return size, flags
}

func (c *client) request(flags, typ uint16, cookie, off uint64, length uint32, payload []byte) {
	c.t.Helper()
	c.write(encRequest(flags, typ, cookie, off, length, payload))
}

// simple reads a simple reply header (and n bytes of data if it is a
// successful read).
func (c *client) simple(n int) (errv uint32, cookie uint64, data []byte) {
	c.t.Helper()
	h := c.read(16)
	if binary.BigEndian.Uint32(h) != magicSimpleReply {
		c.t.Fatalf("bad simple reply magic %x", h)
	}
	errv, cookie = binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint64(h[8:])
	if errv == 0 && n > 0 {
		data = c.read(n)
	}
	return errv, cookie, data
}

type chunk struct {
	flags, typ uint16
	cookie     uint64
	payload    []byte
}

func (c *client) chunk() chunk {
	c.t.Helper()
	h := c.read(20)
	if binary.BigEndian.Uint32(h) != magicStructReply {
		c.t.Fatalf("bad structured reply magic %x", h)
	}
	return chunk{binary.BigEndian.Uint16(h[4:]), binary.BigEndian.Uint16(h[6:]), binary.BigEndian.Uint64(h[8:]),
		c.read(int(binary.BigEndian.Uint32(h[16:])))}
}

// closed reports whether the server closed the connection.
func (c *client) closed() bool {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.br.ReadByte()
	return err != nil
}
