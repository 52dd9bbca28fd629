package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/thinraft/thinraft/dm"
)

// transmit reads requests until the client disconnects, the connection
// stops, or the client breaks the protocol; each request is handled in its
// own goroutine within the connection's budget. It waits for every handled
// request to be answered, flushes the device if anything was written since
// the last flush, and returns.
func (c *conn) transmit() error {
	v := c.exp.volume()
	sess := session{
		size:       uint64(c.size),
		readOnly:   c.exp.ReadOnly,
		structured: c.structured,
		meta:       c.meta,
		canTrim:    v.discardUnmaps,
		maxPayload: c.s.opts.MaxPayload,
	}
	b := newBudget(c.s.opts.MaxInFlight, c.s.opts.MaxBufferBytes)
	var wg sync.WaitGroup
	err := c.readRequests(sess, b, &wg)
	wg.Wait()
	if c.dirty.Load() {
		if ferr := v.flush(); ferr != nil {
			err = errors.Join(err, fmt.Errorf("flush at disconnect: %w", ferr))
		}
	}
	return err
}

func (c *conn) readRequests(sess session, b *budget, wg *sync.WaitGroup) error {
	var hdr [requestSize]byte
	for !c.stopping.Load() {
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			if err == io.EOF || c.stopping.Load() || errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
		r, err := parseRequest(hdr[:])
		if err != nil {
			return err
		}
		if r.Type == cmdDisc {
			return nil
		}
		weight := int64(0)
		if r.Type == cmdRead || r.Type == cmdWrite {
			weight = int64(min(r.Length, sess.maxPayload))
		}
		var payload []byte
		if r.Type == cmdWrite {
			if r.Length > sess.maxPayload {
				// The payload cannot be buffered; skipping it would let a
				// client stream gigabytes at us. The protocol allows a
				// hard disconnect for a request over the advertised limit.
				return fmt.Errorf("%w: write of %d bytes over the %d-byte limit", errProto, r.Length, sess.maxPayload)
			}
			b.acquire(weight)
			payload = make([]byte, r.Length)
			if _, err := io.ReadFull(c.br, payload); err != nil {
				b.release(weight)
				return fmt.Errorf("reading write payload: %w", err)
			}
		} else {
			b.acquire(weight)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer b.release(weight)
			c.handle(sess, r, payload)
		}()
	}
	return nil
}

// handle executes one request and sends its reply.
func (c *conn) handle(sess session, r request, payload []byte) {
	if e := validate(sess, r); e != 0 {
		c.replyError(r, e, fmt.Sprintf("request refused (type %d, flags %#x, offset %d, length %d)", r.Type, r.Flags, r.Offset, r.Length))
		return
	}
	v := c.exp.volume()
	off, n := int64(r.Offset), int64(r.Length)
	var err error
	switch r.Type {
	case cmdRead:
		buf := make([]byte, n)
		if err = v.readAt(buf, off); err == nil {
			c.replyRead(r, buf)
			return
		}
	case cmdWrite:
		err = v.writeAt(payload, off)
	case cmdWriteZeroes:
		err = v.writeZeroes(off, n, r.Flags&cmdFlagNoHole != 0)
	case cmdTrim:
		err = v.trim(off, n)
	case cmdFlush:
		err = c.flush()
	case cmdBlockStatus:
		ext := v.alloc.Extents(off, n)
		if r.Flags&cmdFlagReqOne != 0 && len(ext) > 1 {
			ext = ext[:1]
		}
		c.replyBlockStatus(r, ext)
		return
	}
	if err == nil && r.Type != cmdFlush && r.Type != cmdRead {
		c.dirty.Store(true)
		if r.Flags&cmdFlagFUA != 0 {
			err = c.flush()
		}
	}
	if err != nil {
		c.s.log.Warn("nbd request failed", "type", r.Type, "offset", off, "length", n, "err", err)
		c.replyError(r, errorValue(err), err.Error())
		return
	}
	c.replyOK(r)
}

// flush makes every write completed so far durable. dirty is cleared
// before the flush starts, so a write that completes during it keeps the
// connection dirty.
func (c *conn) flush() error {
	c.dirty.Store(false)
	if err := c.exp.volume().flush(); err != nil {
		c.dirty.Store(true)
		return err
	}
	return nil
}

// errorValue maps a device error to the protocol's error values.
func errorValue(err error) uint32 {
	switch dm.Errno(err) {
	case syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG:
		return errNoSpc
	case syscall.EPERM, syscall.EROFS, syscall.EACCES:
		return errPerm
	case syscall.EINVAL:
		return errInval
	case syscall.ENOMEM:
		return errNoMem
	case syscall.EOVERFLOW:
		return errOverflow
	case syscall.EOPNOTSUPP:
		return errNotSup
	}
	return errIO
}

// Replies. Each is written whole under wmu and flushed, so replies of
// concurrent requests never interleave.

func (c *conn) send(parts ...[]byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, p := range parts {
		if _, err := c.bw.Write(p); err != nil {
			break
		}
	}
	if err := c.bw.Flush(); err != nil {
		// The client is gone: stop reading from it too.
		c.close()
	}
}

func simpleHeader(cookie uint64, errv uint32) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint32(h[0:], magicSimpleReply)
	binary.BigEndian.PutUint32(h[4:], errv)
	binary.BigEndian.PutUint64(h[8:], cookie)
	return h
}

func chunkHeader(cookie uint64, flags, typ uint16, length uint32) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint32(h[0:], magicStructReply)
	binary.BigEndian.PutUint16(h[4:], flags)
	binary.BigEndian.PutUint16(h[6:], typ)
	binary.BigEndian.PutUint64(h[8:], cookie)
	binary.BigEndian.PutUint32(h[16:], length)
	return h
}

func (c *conn) replyOK(r request) {
	if c.structured {
		c.send(chunkHeader(r.Cookie, replyFlagDone, replyTypeNone, 0))
		return
	}
	c.send(simpleHeader(r.Cookie, 0))
}

func (c *conn) replyError(r request, errv uint32, msg string) {
	if !c.structured {
		c.send(simpleHeader(r.Cookie, errv))
		return
	}
	if len(msg) > 1024 {
		msg = strings.ToValidUTF8(msg[:1024], "")
	}
	p := binary.BigEndian.AppendUint32(nil, errv)
	p = binary.BigEndian.AppendUint16(p, uint16(len(msg)))
	p = append(p, msg...)
	c.send(chunkHeader(r.Cookie, replyFlagDone, replyTypeError, uint32(len(p))), p)
}

// replyRead sends read data: a simple reply followed by the bytes, or one
// OFFSET_DATA chunk (which also satisfies NBD_CMD_FLAG_DF).
func (c *conn) replyRead(r request, data []byte) {
	if !c.structured {
		c.send(simpleHeader(r.Cookie, 0), data)
		return
	}
	if len(data) == 0 {
		c.send(chunkHeader(r.Cookie, replyFlagDone, replyTypeNone, 0))
		return
	}
	off := binary.BigEndian.AppendUint64(nil, r.Offset)
	c.send(chunkHeader(r.Cookie, replyFlagDone, replyTypeOffsetData, uint32(8+len(data))), off, data)
}

func (c *conn) replyBlockStatus(r request, ext []Extent) {
	p := binary.BigEndian.AppendUint32(nil, metaContextID)
	for _, e := range ext {
		p = binary.BigEndian.AppendUint32(p, uint32(e.Length))
		p = binary.BigEndian.AppendUint32(p, e.Flags)
	}
	c.send(chunkHeader(r.Cookie, replyFlagDone, replyTypeBlockStat, uint32(len(p))), p)
}

// budget bounds the requests of one connection in flight and the payload
// bytes they hold. A request larger than the whole byte budget is admitted
// when nothing else holds bytes, so it cannot wait forever.
type budget struct {
	mu       sync.Mutex
	cond     *sync.Cond
	n, max   int
	bytes    int64
	maxBytes int64
}

func newBudget(maxN int, maxBytes int64) *budget {
	b := &budget{max: maxN, maxBytes: maxBytes}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *budget) acquire(w int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.n >= b.max || (b.bytes > 0 && b.bytes+w > b.maxBytes) {
		b.cond.Wait()
	}
	b.n++
	b.bytes += w
}

func (b *budget) release(w int64) {
	b.mu.Lock()
	b.n--
	b.bytes -= w
	b.mu.Unlock()
	b.cond.Broadcast()
}
