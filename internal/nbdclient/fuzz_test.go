package nbdclient

import (
	"encoding/binary"
	"testing"
)

// FuzzParse feeds server bytes to every parser: none may panic, and what
// they accept must be what they claim.
func FuzzParse(f *testing.F) {
	g := binary.BigEndian.AppendUint64(nil, magicInit)
	g = binary.BigEndian.AppendUint64(g, magicOpt)
	g = binary.BigEndian.AppendUint16(g, 3)
	f.Add(g)
	r := binary.BigEndian.AppendUint64(nil, magicOptReply)
	r = binary.BigEndian.AppendUint32(r, optGo)
	r = binary.BigEndian.AppendUint32(r, repInfo)
	r = binary.BigEndian.AppendUint32(r, 12)
	f.Add(r)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5})
	s := binary.BigEndian.AppendUint32(nil, magicSimple)
	s = binary.BigEndian.AppendUint32(s, 5)
	s = binary.BigEndian.AppendUint64(s, 1)
	f.Add(s)
	f.Fuzz(func(t *testing.T, b []byte) {
		if fl, err := parseGreeting(b); err == nil && fl&flagFixed == 0 {
			t.Fatal("greeting without fixed newstyle accepted")
		}
		if _, n, err := parseOptReply(b, optGo); err == nil && n > maxOptReply {
			t.Fatalf("option reply length %d accepted", n)
		}
		if size, _, ok := parseInfoExport(b); ok && (len(b) != 12 || size != binary.BigEndian.Uint64(b[2:])) {
			t.Fatal("info parsed wrongly")
		}
		if len(b) >= 16 {
			if _, err := parseSimpleReply(b[:16], binary.BigEndian.Uint64(b[8:16])); err != nil && binary.BigEndian.Uint32(b) == magicSimple {
				t.Fatalf("a valid simple reply refused: %v", err)
			}
		}
	})
}
