package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxOptions bounds option haggling on one connection: a client that keeps
// sending options without ever choosing an export is cut off.
const maxOptions = 4096

// conn is one client connection: handshake, then transmission.
type conn struct {
	s  *Server
	nc net.Conn
	br *bufio.Reader

	wmu sync.Mutex // serialises replies
	bw  *bufio.Writer

	// Negotiated during the handshake (written only by the handshake).
	fixed      bool
	noZeroes   bool
	structured bool
	meta       bool   // base:allocation selected
	metaExport string // export name the selection was made for

	// exp is the export chosen at the end of the handshake (attached to
	// it), and size its size at that moment: NBD fixes a connection's
	// size, so a client sees a grown volume on its next connection.
	exp  *Export
	size int64

	transmitting atomic.Bool
	stopping     atomic.Bool
	dirty        atomic.Bool // writes completed since the last flush
	closeOnce    sync.Once
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{s: s, nc: nc, br: bufio.NewReaderSize(nc, 64<<10), bw: bufio.NewWriterSize(nc, 64<<10)}
}

// stop ends the connection: hard closes the socket; otherwise a
// connection still haggling is closed and a transmitting one stops reading
// requests, finishes those it has, and closes itself.
func (c *conn) stop(hard bool) {
	c.stopping.Store(true)
	if hard || !c.transmitting.Load() {
		c.close()
		return
	}
	c.nc.SetReadDeadline(time.Now())
}

func (c *conn) close() { c.closeOnce.Do(func() { c.nc.Close() }) }

func (c *conn) serve() {
	defer func() {
		// Closed before detaching, so that whoever waits for the export's
		// clients to go (Export.Stop) finds them disconnected.
		c.close()
		if c.exp != nil {
			c.exp.detach(c)
		}
	}()
	log := c.s.log.With("remote", c.nc.RemoteAddr().String())
	c.nc.SetDeadline(time.Now().Add(c.s.opts.HandshakeTimeout))
	ok, err := c.handshake()
	if err != nil {
		if !c.stopping.Load() && !errors.Is(err, io.EOF) {
			log.Info("nbd handshake ended", "err", err)
		}
		return
	}
	if !ok {
		return // client aborted
	}
	c.nc.SetDeadline(time.Time{})
	c.transmitting.Store(true)
	if c.stopping.Load() {
		return // Shutdown raced the end of the handshake
	}
	if err := c.transmit(); err != nil && !c.stopping.Load() {
		log.Info("nbd connection ended", "err", err)
	}
}

// handshake runs the fixed newstyle negotiation. It returns true when the
// client chose the export and transmission begins, false when it aborted.
func (c *conn) handshake() (bool, error) {
	var hello [18]byte
	binary.BigEndian.PutUint64(hello[0:], magicInit)
	binary.BigEndian.PutUint64(hello[8:], magicOpt)
	binary.BigEndian.PutUint16(hello[16:], flagFixedNewstyle|flagNoZeroes)
	c.bw.Write(hello[:])
	if err := c.bw.Flush(); err != nil {
		return false, err
	}
	var cf [4]byte
	if _, err := io.ReadFull(c.br, cf[:]); err != nil {
		return false, err
	}
	flags := binary.BigEndian.Uint32(cf[:])
	if flags&^(clientFixedNewstyle|clientNoZeroes) != 0 {
		return false, fmt.Errorf("%w: unknown client flags %#x", errProto, flags)
	}
	c.fixed = flags&clientFixedNewstyle != 0
	c.noZeroes = flags&clientNoZeroes != 0
	var hdr [16]byte
	for range maxOptions {
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return false, err
		}
		h, err := parseOptionHeader(hdr[:])
		if err != nil {
			return false, err
		}
		data := make([]byte, h.Length)
		if _, err := io.ReadFull(c.br, data); err != nil {
			return false, err
		}
		if !c.fixed && h.Option != optExportName {
			return false, fmt.Errorf("%w: option %d from a client without fixed newstyle", errProto, h.Option)
		}
		done, ok, err := c.option(h.Option, data)
		if err != nil || done {
			return ok, err
		}
		if err := c.bw.Flush(); err != nil {
			return false, err
		}
	}
	return false, fmt.Errorf("%w: more than %d options", errProto, maxOptions)
}

// option answers one option. done means haggling is over: ok says whether
// transmission follows.
func (c *conn) option(opt uint32, data []byte) (done, ok bool, err error) {
	if c.stopping.Load() && opt != optAbort {
		if opt == optExportName {
			return true, false, nil // cannot be refused politely
		}
		return false, false, c.optError(opt, repErrShutdown, "server is shutting down")
	}
	switch opt {
	case optExportName:
		name, err := parseExportName(data)
		if err != nil {
			return true, false, err
		}
		// This option cannot be refused politely: an unknown export
		// ends the connection, as the protocol says.
		exp, err := c.lookup(name)
		if err != nil {
			return true, false, fmt.Errorf("client asked for export %q: %w", name, err)
		}
		if err := c.choose(exp); err != nil {
			return true, false, fmt.Errorf("client asked for export %q: %w", name, err)
		}
		if c.metaExport != name {
			c.meta = false
		}
		var b [10 + exportNameZeroPads]byte
		binary.BigEndian.PutUint64(b[0:], uint64(c.size))
		binary.BigEndian.PutUint16(b[8:], c.transmissionFlags(exp))
		n := len(b)
		if c.noZeroes {
			n = 10
		}
		c.bw.Write(b[:n])
		return true, true, c.bw.Flush()
	case optAbort:
		c.optReply(opt, repAck, nil)
		c.bw.Flush() // the client may already be gone
		return true, false, nil
	case optList:
		if len(data) != 0 {
			return false, false, c.optError(opt, repErrInvalid, "NBD_OPT_LIST takes no data")
		}
		for _, name := range c.s.src.Names() {
			p := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
			c.optReply(opt, repServer, append(p, name...))
		}
		return false, false, c.optReply(opt, repAck, nil)
	case optStartTLS:
		return false, false, c.optError(opt, repErrPolicy, "TLS is not offered; use a unix socket or a trusted network")
	case optInfo, optGo:
		g, err := parseGoRequest(data)
		if err != nil {
			return false, false, c.optError(opt, repErrInvalid, err.Error())
		}
		exp, err := c.lookup(g.Name)
		if err != nil {
			return false, false, c.optError(opt, repErrUnknown, fmt.Sprintf("no export named %q", g.Name))
		}
		size := exp.Device.Size()
		if opt == optGo {
			// Attached before the reply, so that a Stop of the export
			// either refuses this client here or ends its connection.
			if err := c.choose(exp); err != nil {
				return false, false, c.optError(opt, repErrUnknown, fmt.Sprintf("export %q: %v", g.Name, err))
			}
			size = c.size
		}
		c.sendInfo(opt, g, exp, size)
		if err := c.optReply(opt, repAck, nil); err != nil {
			return false, false, err
		}
		if opt == optInfo {
			return false, false, nil
		}
		if c.metaExport != g.Name {
			c.meta = false
		}
		return true, true, c.bw.Flush()
	case optStructuredReply:
		if len(data) != 0 {
			return false, false, c.optError(opt, repErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data")
		}
		if c.structured {
			return false, false, c.optError(opt, repErrInvalid, "structured replies are already negotiated")
		}
		c.structured = true
		return false, false, c.optReply(opt, repAck, nil)
	case optListMetaContext, optSetMetaContext:
		return false, false, c.metaContext(opt, data)
	default:
		return false, false, c.optError(opt, repErrUnsup, fmt.Sprintf("option %d is not supported", opt))
	}
}

// lookup asks the server's source for an export.
func (c *conn) lookup(name string) (*Export, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.opts.HandshakeTimeout)
	defer cancel()
	exp, err := c.s.src.Lookup(ctx, name)
	if err == nil && exp == nil {
		err = fmt.Errorf("%w: %q", ErrUnknownExport, name)
	}
	return exp, err
}

// choose attaches the connection to exp for transmission.
func (c *conn) choose(exp *Export) error {
	if err := exp.attach(c); err != nil {
		return err
	}
	c.exp = exp
	c.size = exp.volume().currentSize()
	return nil
}

// sendInfo sends NBD_REP_INFO replies: the export (always), its name and
// description when asked, and the block sizes (always: the minimum is 1,
// so a client that did not ask loses nothing).
func (c *conn) sendInfo(opt uint32, g goRequest, exp *Export, size int64) {
	p := binary.BigEndian.AppendUint16(nil, infoExport)
	p = binary.BigEndian.AppendUint64(p, uint64(size))
	p = binary.BigEndian.AppendUint16(p, c.transmissionFlags(exp))
	c.optReply(opt, repInfo, p)
	for _, t := range g.Infos {
		switch t {
		case infoName:
			c.optReply(opt, repInfo, append(binary.BigEndian.AppendUint16(nil, infoName), exp.Name...))
		case infoDescription:
			if exp.Description != "" {
				c.optReply(opt, repInfo, append(binary.BigEndian.AppendUint16(nil, infoDescription), exp.Description...))
			}
		}
	}
	p = binary.BigEndian.AppendUint16(nil, infoBlockSize)
	p = binary.BigEndian.AppendUint32(p, 1)
	p = binary.BigEndian.AppendUint32(p, 4096)
	p = binary.BigEndian.AppendUint32(p, c.s.opts.MaxPayload)
	c.optReply(opt, repInfo, p)
}

// metaContext answers LIST_META_CONTEXT and SET_META_CONTEXT. The only
// context is base:allocation; "base:" lists it too.
func (c *conn) metaContext(opt uint32, data []byte) error {
	if !c.structured {
		return c.optError(opt, repErrInvalid, "negotiate structured replies first")
	}
	m, err := parseMetaRequest(data)
	if err != nil {
		return c.optError(opt, repErrInvalid, err.Error())
	}
	if _, err := c.lookup(m.Name); err != nil {
		return c.optError(opt, repErrUnknown, fmt.Sprintf("no export named %q", m.Name))
	}
	selected := false
	for _, q := range m.Queries {
		if q == metaContextA || (opt == optListMetaContext && q == "base:") {
			selected = true
		}
	}
	if opt == optListMetaContext {
		if len(m.Queries) == 0 || selected {
			p := binary.BigEndian.AppendUint32(nil, 0)
			c.optReply(opt, repMetaContext, append(p, metaContextA...))
		}
		return c.optReply(opt, repAck, nil)
	}
	c.meta, c.metaExport = selected, m.Name
	if selected {
		p := binary.BigEndian.AppendUint32(nil, metaContextID)
		c.optReply(opt, repMetaContext, append(p, metaContextA...))
	}
	return c.optReply(opt, repAck, nil)
}

// transmissionFlags are the features this connection may use.
func (c *conn) transmissionFlags(exp *Export) uint16 {
	f := tflagHasFlags | tflagSendFlush | tflagSendFUA | tflagSendZeroes | tflagCanMultiConn
	if exp.ReadOnly {
		f |= tflagReadOnly
	}
	if exp.DiscardUnmaps {
		f |= tflagSendTrim
	}
	if c.structured {
		f |= tflagSendDF
	}
	return f
}

// optReply buffers one option reply; errors surface at the next flush.
func (c *conn) optReply(opt, typ uint32, data []byte) error {
	var h [20]byte
	binary.BigEndian.PutUint64(h[0:], magicOptReply)
	binary.BigEndian.PutUint32(h[8:], opt)
	binary.BigEndian.PutUint32(h[12:], typ)
	binary.BigEndian.PutUint32(h[16:], uint32(len(data)))
	c.bw.Write(h[:])
	_, err := c.bw.Write(data)
	return err
}

// optError replies with an error type and a message for humans.
func (c *conn) optError(opt, typ uint32, msg string) error {
	if len(msg) > 256 {
		msg = strings.ToValidUTF8(msg[:256], "")
	}
	return c.optReply(opt, typ, []byte(msg))
}
