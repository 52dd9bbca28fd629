package cli

import (
	"fmt"
	"testing"

	"github.com/thinraft/thinraft/metadata"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		def  uint64
		sign int
		want uint64
		bad  bool
	}{
		{in: "10", def: mib, want: 10 << 20},
		{in: "10G", def: mib, want: 10 << 30},
		{in: "10g", def: mib, want: 10 << 30},
		{in: "1T", def: mib, want: 1 << 40},
		{in: "1.5G", def: mib, want: 3 << 29},
		{in: "1.5g", def: mib, want: 3 << 29},
		{in: "8M", def: mib, want: 8 << 20},
		{in: "+10G", def: mib, sign: 1, want: 10 << 30},
		{in: "-1G", def: mib, sign: -1, want: 1 << 30},
		{in: "+12M", def: mib, sign: 1, want: 12 << 20},
		{in: "64", def: kib, want: 64 << 10},
		{in: "64k", def: kib, want: 64 << 10},
		{in: "64K", def: mib, want: 64 << 10},
		{in: "8s", def: mib, want: 4096},
		{in: "8S", def: mib, want: 4096},
		{in: "512b", def: mib, want: 512},
		{in: "1000B", def: mib, want: 1024}, // rounded up to whole sectors
		{in: "1p", def: mib, want: 1 << 50},
		{in: "1E", def: mib, want: 1 << 60},
		{in: "0.5", def: mib, want: 512 << 10},
		{in: "", bad: true},
		{in: "G", bad: true},
		{in: "10X", bad: true},
		{in: "1.2.3G", bad: true},
		{in: "10GiB", bad: true},
		{in: "1e3", bad: true},
		{in: "++1G", bad: true},
		{in: "8E", bad: true}, // beyond thinraft's limit
		{in: "-", bad: true},
		{in: ".", bad: true},
	} {
		got, err := ParseSize(c.in, c.def)
		if c.bad {
			if err == nil {
				t.Errorf("%q: %+v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got.Bytes != c.want || got.Sign != c.sign {
			t.Errorf("%q: %+v %v, want %d sign %d", c.in, got, err, c.want, c.sign)
		}
	}
}

func TestParseExtents(t *testing.T) {
	for _, c := range []struct {
		in          string
		lv, origin  uint64
		sign        int
		want        uint64
		bad, badRes bool
	}{
		{in: "10", want: 40 << 20},
		{in: "+5", sign: 1, want: 20 << 20},
		{in: "100%LV", lv: 1 << 30, want: 1 << 30},
		{in: "+50%lv", lv: 1 << 30, sign: 1, want: 1 << 29},
		{in: "200%ORIGIN", origin: 1 << 30, want: 2 << 30},
		{in: "100%FREE", badRes: true},
		{in: "50%VG", badRes: true},
		{in: "10%PVS", badRes: true},
		{in: "10%ORIGIN", badRes: true},
		{in: "10%XYZ", bad: true},
		{in: "1.5", bad: true},
		{in: "%LV", bad: true},
		{in: "0%LV", bad: true},
	} {
		e, err := ParseExtents(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: %+v, want an error", c.in, e)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		b, err := e.Resolve(c.lv, c.origin)
		if c.badRes {
			if err == nil {
				t.Errorf("%q: resolved to %d, want an error", c.in, b)
			}
			continue
		}
		if err != nil || b != c.want || e.Sign != c.sign {
			t.Errorf("%q: %d sign %d %v, want %d sign %d", c.in, b, e.Sign, err, c.want, c.sign)
		}
	}
}

func TestHuman(t *testing.T) {
	for in, want := range map[uint64]string{0: "0 B", 512: "512 B", 8 << 20: "8.00 MiB", 10 << 30: "10.00 GiB", 3 << 29: "1.50 GiB", 1 << 40: "1.00 TiB"} {
		if got := human(in); got != want {
			t.Errorf("human(%d) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSize: parsing never panics; a parsed size is whole sectors within
// the model's limit, and its byte count parses back to itself.
func FuzzSize(f *testing.F) {
	for _, s := range []string{"10G", "+1.5t", "-8s", "64k", "512b", "1e", "0.001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sz, err := ParseSize(s, mib)
		if err != nil {
			return
		}
		if sz.Bytes%sector != 0 || sz.Bytes > metadata.MaxSizeBytes {
			t.Fatalf("%q: %d bytes", s, sz.Bytes)
		}
		back, err := ParseSize(fmt.Sprintf("%db", sz.Bytes), mib)
		if err != nil || back.Bytes != sz.Bytes {
			t.Fatalf("%q: %d bytes does not parse back: %+v %v", s, sz.Bytes, back, err)
		}
	})
}
