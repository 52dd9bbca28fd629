package nbd

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var writeSeeds = flag.Bool("nbd.writeseeds", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// FuzzParseOptions: the option-data and request-header parsers never
// panic, and what they accept re-encodes to the same bytes.
func FuzzParseOptions(f *testing.F) {
	for _, s := range optionSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if g, err := parseGoRequest(b); err == nil {
			if enc := encGo(g.Name, g.Infos...); !bytes.Equal(enc, b) {
				t.Fatalf("go request %+v re-encodes to %x, parsed from %x", g, enc, b)
			}
		}
		if m, err := parseMetaRequest(b); err == nil {
			if enc := encMeta(m.Name, m.Queries...); !bytes.Equal(enc, b) {
				t.Fatalf("meta request %+v re-encodes to %x, parsed from %x", m, enc, b)
			}
		}
		parseExportName(b)
		if len(b) >= 16 {
			if h, err := parseOptionHeader(b[:16]); err == nil && h.Length > maxOptionLen {
				t.Fatalf("accepted option length %d", h.Length)
			}
		}
		if len(b) >= requestSize {
			if r, err := parseRequest(b[:requestSize]); err == nil {
				if enc := encRequest(r.Flags, r.Type, r.Cookie, r.Offset, r.Length, nil); !bytes.Equal(enc, b[:requestSize]) {
					t.Fatalf("request %+v re-encodes differently", r)
				}
				for _, s := range []session{{size: memSize, maxPayload: 1 << 20}, {size: memSize, structured: true, meta: true, canTrim: true, maxPayload: 1 << 20}} {
					if e := validate(s, r); e == 0 && r.Type != cmdFlush && r.Offset+uint64(r.Length) > s.size {
						t.Fatalf("validate accepted %+v beyond the end", r)
					}
				}
			}
		}
	})
}

// FuzzSession feeds arbitrary client bytes (after the server's greeting)
// to a server over an in-memory pipe: it must never panic, never write
// outside the device, and always end the session when the input ends.
func FuzzSession(f *testing.F) {
	for _, s := range sessionSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		dev := newMemDev(256 << 10)
		s, err := NewServer(&Export{Name: "vol", Device: dev, BlockSize: 64 << 10, DiscardUnmaps: true,
			Alloc: NewTracker(dev.Size(), 64<<10, nil, true)}, Options{MaxPayload: 1 << 20, MaxInFlight: 4})
		if err != nil {
			t.Fatal(err)
		}
		cli, srv := net.Pipe()
		c := newConn(s, srv)
		done := make(chan struct{})
		go func() { c.serve(); close(done) }()
		go io.Copy(io.Discard, cli)
		cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
		cli.Write(in) // the server may stop reading early: errors are fine
		cli.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("session did not end after the client closed")
		}
		if dev.Size() != 256<<10 {
			t.Fatal("device size changed")
		}
	})
}

func optionSeeds() [][]byte {
	return [][]byte{
		encGo(""), encGo("vol", infoName, infoBlockSize), encGo("x", 1, 2, 3),
		encMeta(""), encMeta("vol", metaContextA), encMeta("", "base:", "x-a:b"),
		encOption(optGo, encGo("")),
		encRequest(0, cmdRead, 1, 0, 512, nil), encRequest(cmdFlagFUA, cmdWrite, 2, 1000, 3, nil),
		encRequest(cmdFlagReqOne, cmdBlockStatus, 3, 0, 1<<20, nil), encRequest(cmdFlagNoHole, cmdWriteZeroes, 4, 5, 70000, nil),
		{0, 0, 0, 5, 'a'}, {0xff, 0xff, 0xff, 0xff},
	}
}

// handshake is a well-formed negotiation ending in GO with structured
// replies and base:allocation, so mutations reach the transmission phase.
func handshakeBytes(structured bool) []byte {
	b := binary.BigEndian.AppendUint32(nil, clientFixedNewstyle|clientNoZeroes)
	if structured {
		b = append(b, encOption(optStructuredReply, nil)...)
		b = append(b, encOption(optSetMetaContext, encMeta("", metaContextA))...)
	}
	return append(b, encOption(optGo, encGo("vol", infoBlockSize))...)
}

func sessionSeeds() [][]byte {
	var out [][]byte
	for _, structured := range []bool{false, true} {
		b := handshakeBytes(structured)
		b = append(b, encRequest(0, cmdWrite, 1, 1000, 5, []byte("hello"))...)
		b = append(b, encRequest(0, cmdRead, 2, 990, 20, nil)...)
		b = append(b, encRequest(cmdFlagFUA, cmdWriteZeroes, 3, 60000, 80000, nil)...)
		b = append(b, encRequest(0, cmdTrim, 4, 0, 128<<10, nil)...)
		b = append(b, encRequest(0, cmdBlockStatus, 5, 0, 256<<10, nil)...)
		b = append(b, encRequest(0, cmdFlush, 6, 0, 0, nil)...)
		b = append(b, encRequest(0, cmdDisc, 7, 0, 0, nil)...)
		out = append(out, b)
	}
	opts := binary.BigEndian.AppendUint32(nil, clientFixedNewstyle)
	opts = append(opts, encOption(optList, nil)...)
	opts = append(opts, encOption(optInfo, encGo("vol", infoName))...)
	opts = append(opts, encOption(optStructuredReply, nil)...)
	opts = append(opts, encOption(optListMetaContext, encMeta("", "base:"))...)
	opts = append(opts, encOption(99, []byte("?"))...)
	opts = append(opts, encOption(optExportName, []byte("vol"))...)
	opts = append(opts, encRequest(cmdFlagDF, cmdRead, 1, 0, 4096, nil)...)
	out = append(out, opts, append(binary.BigEndian.AppendUint32(nil, clientFixedNewstyle), encOption(optAbort, nil)...))
	return out
}

// TestWriteFuzzSeeds writes the seeds above as the checked-in corpus under
// testdata/fuzz when run with -nbd.writeseeds (go test's fuzz corpus
// format), and otherwise checks the corpus is present.
func TestWriteFuzzSeeds(t *testing.T) {
	for name, seeds := range map[string][][]byte{"FuzzParseOptions": optionSeeds(), "FuzzSession": sessionSeeds()} {
		dir := filepath.Join("testdata", "fuzz", name)
		if !*writeSeeds {
			ents, err := os.ReadDir(dir)
			if err != nil || len(ents) < len(seeds) {
				t.Fatalf("%s: %d seeds in %s (%v); regenerate with go test -run TestWriteFuzzSeeds -nbd.writeseeds", name, len(ents), dir, err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
