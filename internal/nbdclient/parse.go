package nbdclient

import (
	"encoding/binary"
	"fmt"
)

// The parsers of what a server sends, pure and fuzzed.

// parseGreeting checks the 18-byte newstyle greeting and returns the
// server's handshake flags.
func parseGreeting(b []byte) (uint16, error) {
	if len(b) != 18 || binary.BigEndian.Uint64(b[0:]) != magicInit {
		return 0, fmt.Errorf("not an NBD server (bad greeting)")
	}
	if binary.BigEndian.Uint64(b[8:]) != magicOpt {
		return 0, fmt.Errorf("server speaks only oldstyle NBD; newstyle is required")
	}
	flags := binary.BigEndian.Uint16(b[16:])
	if flags&flagFixed == 0 {
		return 0, fmt.Errorf("server lacks fixed newstyle negotiation")
	}
	return flags, nil
}

// parseOptReply checks a 20-byte option reply header for option want and
// returns the reply type and the length of its data.
func parseOptReply(b []byte, want uint32) (typ, n uint32, err error) {
	if len(b) != 20 || binary.BigEndian.Uint64(b[0:]) != magicOptReply {
		return 0, 0, fmt.Errorf("bad option reply magic")
	}
	if opt := binary.BigEndian.Uint32(b[8:]); opt != want {
		return 0, 0, fmt.Errorf("option reply for option %d, asked %d", opt, want)
	}
	typ, n = binary.BigEndian.Uint32(b[12:]), binary.BigEndian.Uint32(b[16:])
	if n > maxOptReply {
		return 0, 0, fmt.Errorf("option reply of %d bytes: too long", n)
	}
	return typ, n, nil
}

// parseInfoExport reads NBD_INFO_EXPORT from an NBD_REP_INFO's data; ok is
// false for other info types (which a client may ignore).
func parseInfoExport(d []byte) (size uint64, tflags uint16, ok bool) {
	if len(d) != 12 || binary.BigEndian.Uint16(d[0:]) != infoExport {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(d[2:]), binary.BigEndian.Uint16(d[10:]), true
}

// parseSimpleReply checks a 16-byte simple reply for handle and returns its
// error number.
func parseSimpleReply(b []byte, handle uint64) (uint32, error) {
	if len(b) != 16 || binary.BigEndian.Uint32(b[0:]) != magicSimple {
		return 0, fmt.Errorf("bad reply magic (structured replies were not negotiated)")
	}
	if h := binary.BigEndian.Uint64(b[8:]); h != handle {
		return 0, fmt.Errorf("reply for handle %d, expected %d", h, handle)
	}
	return binary.BigEndian.Uint32(b[4:]), nil
}
