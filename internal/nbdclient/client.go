package nbdclient

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Protocol constants (the NBD protocol description, "newstyle"
// negotiation and transmission).
const (
	magicInit      = 0x4e42444d41474943 // "NBDMAGIC"
	magicOpt       = 0x49484156454f5054 // "IHAVEOPT"
	magicOptReply  = 0x3e889045565a9
	magicRequest   = 0x25609513
	magicSimple    = 0x67446698
	flagFixed      = 1 << 0 // server handshake flag / client flag
	flagNoZeroes   = 1 << 1
	optGo          = 7
	repAck         = 1
	repInfo        = 3
	repErrBit      = 1 << 31
	infoExport     = 0
	cmdRead        = 0
	cmdWrite       = 1
	cmdDisc        = 2
	cmdFlush       = 3
	cmdFlagFUA     = 1 << 0
	tflagReadOnly  = 1 << 1
	tflagSendFlush = 1 << 2
	maxOptReply    = 64 << 10
)

// MaxRequest is the largest READ or WRITE the client sends; longer calls
// are split.
const MaxRequest = 1 << 20

// Client is one connection to one export. It is not safe for concurrent
// use.
type Client struct {
	c      net.Conn
	r      *bufio.Reader
	size   uint64
	tflags uint16
	handle uint64
	hdr    [28]byte
}

// Dial connects to addr ("host:port") and opens export name.
func Dial(ctx context.Context, addr, name string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("nbd: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	cl := &Client{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	if err := cl.handshake(name); err != nil {
		c.Close()
		return nil, fmt.Errorf("nbd %s export %q: %w", addr, name, err)
	}
	_ = c.SetDeadline(time.Time{})
	return cl, nil
}

// Size is the export's size in bytes.
func (cl *Client) Size() uint64 { return cl.size }

// ReadOnly reports whether the server refuses writes to the export.
func (cl *Client) ReadOnly() bool { return cl.tflags&tflagReadOnly != 0 }

func (cl *Client) handshake(name string) error {
	var hello [18]byte
	if _, err := io.ReadFull(cl.r, hello[:]); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	hflags, err := parseGreeting(hello[:])
	if err != nil {
		return err
	}
	cflags := uint32(flagFixed)
	if hflags&flagNoZeroes != 0 {
		cflags |= flagNoZeroes
	}
	opt := make([]byte, 0, 4+16+4+len(name)+2+2)
	opt = binary.BigEndian.AppendUint32(opt, cflags)
	opt = binary.BigEndian.AppendUint64(opt, magicOpt)
	opt = binary.BigEndian.AppendUint32(opt, optGo)
	opt = binary.BigEndian.AppendUint32(opt, uint32(4+len(name)+2+2))
	opt = binary.BigEndian.AppendUint32(opt, uint32(len(name)))
	opt = append(opt, name...)
	opt = binary.BigEndian.AppendUint16(opt, 1)
	opt = binary.BigEndian.AppendUint16(opt, infoExport)
	if _, err := cl.c.Write(opt); err != nil {
		return fmt.Errorf("option: %w", err)
	}
	for {
		var h [20]byte
		if _, err := io.ReadFull(cl.r, h[:]); err != nil {
			return fmt.Errorf("option reply: %w", err)
		}
		typ, n, err := parseOptReply(h[:], optGo)
		if err != nil {
			return err
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(cl.r, data); err != nil {
			return fmt.Errorf("option reply data: %w", err)
		}
		switch {
		case typ == repAck:
			if cl.size == 0 && cl.tflags == 0 {
				return errors.New("server acknowledged without describing the export")
			}
			return nil
		case typ == repInfo:
			if size, tflags, ok := parseInfoExport(data); ok {
				cl.size, cl.tflags = size, tflags
			}
		case typ&repErrBit != 0:
			msg := string(data)
			if len(msg) > 200 {
				msg = msg[:200]
			}
			return &OptionError{Code: typ, Message: msg}
		}
	}
}

// OptionError is the server refusing the export (e.g. no such export).
type OptionError struct {
	Code    uint32
	Message string
}

func (e *OptionError) Error() string {
	name := map[uint32]string{repErrBit | 1: "unsupported", repErrBit | 2: "policy", repErrBit | 3: "invalid",
		repErrBit | 6: "unknown export", repErrBit | 7: "shutdown", repErrBit | 8: "block size"}[e.Code]
	if name == "" {
		name = fmt.Sprintf("error %#x", e.Code)
	}
	if e.Message != "" {
		return "server refused: " + name + ": " + e.Message
	}
	return "server refused: " + name
}

// ReplyError is an error a server returned for one request (an errno).
type ReplyError struct {
	Op    string
	Errno uint32
}

func (e *ReplyError) Error() string { return fmt.Sprintf("nbd %s: server error %d", e.Op, e.Errno) }

// ReadAt reads len(p) bytes at off.
func (cl *Client) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n := min(len(p)-done, MaxRequest)
		if err := cl.request(cmdRead, 0, uint64(off)+uint64(done), p[done:done+n], "read"); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// WriteAt writes p at off.
func (cl *Client) WriteAt(p []byte, off int64) (int, error) {
	if cl.ReadOnly() {
		return 0, errors.New("nbd write: the export is read-only")
	}
	done := 0
	for done < len(p) {
		n := min(len(p)-done, MaxRequest)
		if err := cl.request(cmdWrite, 0, uint64(off)+uint64(done), p[done:done+n], "write"); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// Flush makes every completed write durable.
func (cl *Client) Flush() error {
	if cl.tflags&tflagSendFlush == 0 {
		return nil
	}
	return cl.request(cmdFlush, 0, 0, nil, "flush")
}

// Close disconnects cleanly (NBD_CMD_DISC) and closes the connection.
func (cl *Client) Close() error {
	cl.put(cmdDisc, 0, 0, 0)
	_, werr := cl.c.Write(cl.hdr[:])
	cerr := cl.c.Close()
	if werr != nil {
		return nil // the server went first; nothing is lost by a DISC not sent
	}
	return cerr
}

func (cl *Client) put(typ, flags uint16, off uint64, n uint32) uint64 {
	cl.handle++
	h := cl.hdr[:]
	binary.BigEndian.PutUint32(h[0:], magicRequest)
	binary.BigEndian.PutUint16(h[4:], flags)
	binary.BigEndian.PutUint16(h[6:], typ)
	binary.BigEndian.PutUint64(h[8:], cl.handle)
	binary.BigEndian.PutUint64(h[16:], off)
	binary.BigEndian.PutUint32(h[24:], n)
	return cl.handle
}

// request sends one command and reads its simple reply; for a read, the
// reply's data lands in buf; for a write, buf is the payload.
func (cl *Client) request(typ, flags uint16, off uint64, buf []byte, op string) error {
	if off+uint64(len(buf)) > cl.size || off+uint64(len(buf)) < off {
		return fmt.Errorf("nbd %s: %d bytes at %d beyond the export's %d bytes", op, len(buf), off, cl.size)
	}
	handle := cl.put(typ, flags, off, uint32(len(buf)))
	if _, err := cl.c.Write(cl.hdr[:]); err != nil {
		return fmt.Errorf("nbd %s: %w", op, err)
	}
	if typ == cmdWrite {
		if _, err := cl.c.Write(buf); err != nil {
			return fmt.Errorf("nbd %s: %w", op, err)
		}
	}
	var rep [16]byte
	if _, err := io.ReadFull(cl.r, rep[:]); err != nil {
		return fmt.Errorf("nbd %s reply: %w", op, err)
	}
	errno, err := parseSimpleReply(rep[:], handle)
	if err != nil {
		return fmt.Errorf("nbd %s: %w", op, err)
	}
	if errno != 0 {
		return &ReplyError{Op: op, Errno: errno}
	}
	if typ == cmdRead {
		if _, err := io.ReadFull(cl.r, buf); err != nil {
			return fmt.Errorf("nbd %s data: %w", op, err)
		}
	}
	return nil
}
