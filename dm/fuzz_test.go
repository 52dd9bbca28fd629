package dm

import (
	"bytes"
	"reflect"
	"testing"
)

// The fuzz targets check one property for every parser: it never panics,
// and whatever it accepts formats back (String, WriteThinXML) to text that
// parses to the same value. Seed corpora are in testdata/fuzz/<FuzzName>/;
// `go test ./dm` replays them as ordinary tests.

func FuzzParsePoolStatus(f *testing.F) {
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParsePoolStatus(line)
		if err != nil {
			return
		}
		again, err := ParsePoolStatus(s.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose String %q does not parse: %v", line, s, s.String(), err)
		}
		if again != s {
			t.Fatalf("%q: %+v formats as %q which parses to %+v", line, s, s.String(), again)
		}
		if s.Mode != ModeFail && s.Mode != ModeError &&
			(s.UsedDataBlocks > s.TotalDataBlocks || s.UsedMetaBlocks > s.TotalMetaBlocks) {
			t.Fatalf("%q: used exceeds total: %+v", line, s)
		}
	})
}

func FuzzParseThinStatus(f *testing.F) {
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParseThinStatus(line)
		if err != nil {
			return
		}
		again, err := ParseThinStatus(s.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose String %q does not parse: %v", line, s, s.String(), err)
		}
		if again != s {
			t.Fatalf("%q: %+v formats as %q which parses to %+v", line, s, s.String(), again)
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseMessage(text)
		if err != nil {
			return
		}
		again, err := ParseMessage(m.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose String %q does not parse: %v", text, m, m.String(), err)
		}
		if again != m {
			t.Fatalf("%q: %+v formats as %q which parses to %+v", text, m, m.String(), again)
		}
		if m.ID > MaxThinID || m.Origin > MaxThinID {
			t.Fatalf("%q: id over 24 bits accepted: %+v", text, m)
		}
	})
}

func FuzzParseThinPoolParams(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParseThinPoolParams(text)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("%q parsed to %+v, which does not validate: %v", text, p, err)
		}
		again, err := ParseThinPoolParams(p.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose String %q does not parse: %v", text, p, p.String(), err)
		}
		if again != p {
			t.Fatalf("%q: %+v formats as %q which parses to %+v", text, p, p.String(), again)
		}
	})
}

func FuzzReadThinXML(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ReadThinXML(bytes.NewReader(data))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteThinXML(&b, d); err != nil {
			t.Fatalf("read %+v but cannot write it: %v", d, err)
		}
		again, err := ReadThinXML(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("wrote\n%s\nwhich does not read back: %v", b.String(), err)
		}
		if !reflect.DeepEqual(again, d) {
			t.Fatalf("read %+v, wrote\n%s\nread back %+v", d, b.String(), again)
		}
	})
}
