package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Wire constants of the NBD protocol (all big-endian on the wire).
const (
	magicInit        uint64 = 0x4e42444d41474943 // "NBDMAGIC"
	magicOpt         uint64 = 0x49484156454f5054 // "IHAVEOPT"
	magicOptReply    uint64 = 0x3e889045565a9
	magicRequest     uint32 = 0x25609513
	magicSimpleReply uint32 = 0x67446698
	magicStructReply uint32 = 0x668e33ef

	// Handshake flags (server) and client flags.
	flagFixedNewstyle   uint16 = 1 << 0
	flagNoZeroes        uint16 = 1 << 1
	clientFixedNewstyle uint32 = 1 << 0
	clientNoZeroes      uint32 = 1 << 1

	// Transmission flags.
	tflagHasFlags      uint16 = 1 << 0
	tflagReadOnly      uint16 = 1 << 1
	tflagSendFlush     uint16 = 1 << 2
	tflagSendFUA       uint16 = 1 << 3
	tflagSendTrim      uint16 = 1 << 5
	tflagSendZeroes    uint16 = 1 << 6
	tflagSendDF        uint16 = 1 << 7
	tflagCanMultiConn  uint16 = 1 << 8
	tflagSendFastZero  uint16 = 1 << 11 // never advertised
	exportNameZeroPads        = 124

	// Options.
	optExportName      uint32 = 1
	optAbort           uint32 = 2
	optList            uint32 = 3
	optStartTLS        uint32 = 5
	optInfo            uint32 = 6
	optGo              uint32 = 7
	optStructuredReply uint32 = 8
	optListMetaContext uint32 = 9
	optSetMetaContext  uint32 = 10

	// Option replies.
	repAck         uint32 = 1
	repServer      uint32 = 2
	repInfo        uint32 = 3
	repMetaContext uint32 = 4
	repErrUnsup    uint32 = 1<<31 + 1
	repErrPolicy   uint32 = 1<<31 + 2
	repErrInvalid  uint32 = 1<<31 + 3
	repErrTLSReqd  uint32 = 1<<31 + 5
	repErrUnknown  uint32 = 1<<31 + 6
	repErrShutdown uint32 = 1<<31 + 7
	repErrTooBig   uint32 = 1<<31 + 9

	// NBD_INFO types in NBD_REP_INFO.
	infoExport      uint16 = 0
	infoName        uint16 = 1
	infoDescription uint16 = 2
	infoBlockSize   uint16 = 3

	// Commands.
	cmdRead        uint16 = 0
	cmdWrite       uint16 = 1
	cmdDisc        uint16 = 2
	cmdFlush       uint16 = 3
	cmdTrim        uint16 = 4
	cmdCache       uint16 = 5
	cmdWriteZeroes uint16 = 6
	cmdBlockStatus uint16 = 7

	// Command flags.
	cmdFlagFUA      uint16 = 1 << 0
	cmdFlagNoHole   uint16 = 1 << 1
	cmdFlagDF       uint16 = 1 << 2
	cmdFlagReqOne   uint16 = 1 << 3
	cmdFlagFastZero uint16 = 1 << 4

	// Structured reply flags and types.
	replyFlagDone       uint16 = 1 << 0
	replyTypeNone       uint16 = 0
	replyTypeOffsetData uint16 = 1
	replyTypeBlockStat  uint16 = 5
	replyTypeError      uint16 = 1<<15 + 1

	// base:allocation state flags.
	StateHole uint32 = 1 << 0
	StateZero uint32 = 1 << 1

	// Protocol error values (errno-like, fixed by the protocol).
	errPerm      uint32 = 1
	errIO        uint32 = 5
	errNoMem     uint32 = 12
	errInval     uint32 = 22
	errNoSpc     uint32 = 28
	errOverflow  uint32 = 75
	errNotSup    uint32 = 95
	errShutdown  uint32 = 108
	metaContextA        = "base:allocation"
	// metaContextID is the id this server gives base:allocation.
	metaContextID uint32 = 1
)

// Limits on what a client may send. maxStringLen is the protocol's bound on
// a string; maxOptionLen bounds option data (the largest legal option is a
// meta-context query list; a longer one is treated as abuse and the
// connection dropped, which the protocol allows).
const (
	maxStringLen = 4096
	maxOptionLen = 64 << 10
	maxQueries   = 128
	maxInfoReqs  = 1024
)

var errProto = errors.New("nbd protocol violation")

// optionHeader is a client option: IHAVEOPT, option, length.
type optionHeader struct {
	Option uint32
	Length uint32
}

// parseOptionHeader parses the 16-byte option header.
func parseOptionHeader(b []byte) (optionHeader, error) {
	if len(b) != 16 {
		return optionHeader{}, fmt.Errorf("%w: option header of %d bytes", errProto, len(b))
	}
	if m := binary.BigEndian.Uint64(b); m != magicOpt {
		return optionHeader{}, fmt.Errorf("%w: option magic %#x", errProto, m)
	}
	h := optionHeader{Option: binary.BigEndian.Uint32(b[8:]), Length: binary.BigEndian.Uint32(b[12:])}
	if h.Length > maxOptionLen {
		return h, fmt.Errorf("%w: option %d with %d bytes of data (limit %d)", errProto, h.Option, h.Length, maxOptionLen)
	}
	return h, nil
}

// reader is a bounds-checked cursor over option data.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u16() uint16 {
	if r.err != nil || len(r.b) < 2 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// str reads a u32-length-prefixed string, checking length and UTF-8.
func (r *reader) str() string {
	n := r.u32()
	if r.err != nil {
		return ""
	}
	if n > maxStringLen || uint64(n) > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	if !validString(s) {
		r.fail()
		return ""
	}
	return s
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: malformed option data", errProto)
	}
}

// done fails unless every byte was consumed.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes in option data", errProto, len(r.b))
	}
	return r.err
}

// validString: UTF-8 without NUL, as the protocol requires of strings.
func validString(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return false
		}
	}
	return true
}

// goRequest is the data of NBD_OPT_INFO and NBD_OPT_GO.
type goRequest struct {
	Name  string
	Infos []uint16
}

// parseGoRequest parses NBD_OPT_INFO / NBD_OPT_GO data: export name, then
// a count of information requests and that many 16-bit types.
func parseGoRequest(data []byte) (goRequest, error) {
	r := &reader{b: data}
	var g goRequest
	g.Name = r.str()
	n := r.u16()
	if r.err == nil && (int(n) > maxInfoReqs || len(r.b) != 2*int(n)) {
		r.fail()
	}
	for i := 0; i < int(n) && r.err == nil; i++ {
		g.Infos = append(g.Infos, r.u16())
	}
	return g, r.done()
}

// metaRequest is the data of NBD_OPT_LIST_META_CONTEXT and
// NBD_OPT_SET_META_CONTEXT.
type metaRequest struct {
	Name    string
	Queries []string
}

// parseMetaRequest parses export name, query count, and that many
// length-prefixed query strings.
func parseMetaRequest(data []byte) (metaRequest, error) {
	r := &reader{b: data}
	var m metaRequest
	m.Name = r.str()
	n := r.u32()
	if r.err == nil && n > maxQueries {
		r.fail()
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		q := r.str()
		if r.err == nil {
			m.Queries = append(m.Queries, q)
		}
	}
	return m, r.done()
}

// parseExportName checks NBD_OPT_EXPORT_NAME data (the bare name).
func parseExportName(data []byte) (string, error) {
	if len(data) > maxStringLen || !validString(string(data)) {
		return "", fmt.Errorf("%w: bad export name", errProto)
	}
	return string(data), nil
}

// request is one transmission-phase request header.
type request struct {
	Flags  uint16
	Type   uint16
	Cookie uint64
	Offset uint64
	Length uint32
}

const requestSize = 28

// parseRequest parses a 28-byte request header. A bad magic is a protocol
// violation (the stream can no longer be framed); everything else about a
// request is checked by validate, which yields an error reply instead.
func parseRequest(b []byte) (request, error) {
	if len(b) != requestSize {
		return request{}, fmt.Errorf("%w: request header of %d bytes", errProto, len(b))
	}
	if m := binary.BigEndian.Uint32(b); m != magicRequest {
		return request{}, fmt.Errorf("%w: request magic %#x", errProto, m)
	}
	return request{
		Flags:  binary.BigEndian.Uint16(b[4:]),
		Type:   binary.BigEndian.Uint16(b[6:]),
		Cookie: binary.BigEndian.Uint64(b[8:]),
		Offset: binary.BigEndian.Uint64(b[16:]),
		Length: binary.BigEndian.Uint32(b[24:]),
	}, nil
}

// session is what validate needs to know about the connection.
type session struct {
	size       uint64
	readOnly   bool
	structured bool
	meta       bool // base:allocation selected
	canTrim    bool
	maxPayload uint32
}

// allowedFlags lists the command flags each command accepts. FUA is
// accepted on everything (the protocol requires it once negotiated).
func (s session) allowedFlags(cmd uint16) uint16 {
	f := cmdFlagFUA
	switch cmd {
	case cmdWriteZeroes:
		f |= cmdFlagNoHole
	case cmdRead:
		if s.structured {
			f |= cmdFlagDF
		}
	case cmdBlockStatus:
		f |= cmdFlagReqOne
	}
	return f
}

// validate returns the protocol error value for a request the server must
// refuse (0 if it is acceptable). It never looks at a write payload; the
// caller has already consumed it.
func validate(s session, r request) uint32 {
	switch r.Type {
	case cmdRead, cmdWrite, cmdFlush, cmdTrim, cmdWriteZeroes, cmdBlockStatus:
	default:
		return errInval // includes CACHE, which is not advertised
	}
	if r.Flags&^s.allowedFlags(r.Type) != 0 {
		return errInval
	}
	end := r.Offset + uint64(r.Length)
	if end < r.Offset {
		return errInval
	}
	switch r.Type {
	case cmdFlush:
		if r.Offset != 0 || r.Length != 0 {
			return errInval
		}
	case cmdRead:
		if r.Length > s.maxPayload {
			return errOverflow
		}
		if end > s.size {
			return errInval
		}
	case cmdWrite, cmdWriteZeroes, cmdTrim:
		if s.readOnly {
			return errPerm
		}
		if r.Type == cmdWrite && r.Length > s.maxPayload {
			return errOverflow
		}
		if r.Type == cmdTrim && !s.canTrim {
			return errInval
		}
		if end > s.size {
			return errNoSpc
		}
	case cmdBlockStatus:
		if !s.structured || !s.meta || r.Length == 0 || end > s.size {
			return errInval
		}
	}
	return 0
}
