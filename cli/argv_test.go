package cli

import (
	"slices"
	"strings"
	"testing"
)

// TestNormalizeArgs: glued short values split as getopt splits them, by
// the options of the command named (-a takes a value in lvchange, not in
// lvs); everything else passes through.
func TestNormalizeArgs(t *testing.T) {
	root := Root(&Env{})
	for _, c := range []struct{ in, want string }{
		{"lvcreate -L10G -T vg/pool", "lvcreate -L 10G -T vg/pool"},
		{"lvcreate -V1G -nthin1 -Tvg/pool", "lvcreate -V 1G -n thin1 -Tvg/pool"},
		{"lvcreate -n lv1 -V 1G --thinpool pool vg", "lvcreate -n lv1 -V 1G --thinpool pool vg"},
		{"lvcreate --size=10G -T vg/p", "lvcreate --size=10G -T vg/p"},
		{"lvcreate -kn -n s -s vg/t", "lvcreate -k n -n s -s vg/t"},
		{"lvcreate -L8M -V2G -n thin1 --thinpool vg/pool0", "lvcreate -L 8M -V 2G -n thin1 --thinpool vg/pool0"},
		{"lvchange -ay -K vg/s", "lvchange -a y -K vg/s"},
		{"lvchange -an vg/s", "lvchange -a n vg/s"},
		{"lvchange -prw vg/s", "lvchange -p rw vg/s"},
		{"lvchange -ky vg/s", "lvchange -k y vg/s"},
		{"lvextend -L+10G vg/pool0", "lvextend -L +10G vg/pool0"},
		{"lvextend -L-10G vg/pool0", "lvextend -L=-10G vg/pool0"},
		{"lvextend -L -10G vg/pool0", "lvextend -L=-10G vg/pool0"},
		{"lvextend -l+100%LV vg/t", "lvextend -l +100%LV vg/t"},
		{"lvs -a -oname,size vg", "lvs -a -o name,size vg"},
		{"lvs -o+seg_monitor", "lvs -o +seg_monitor"},
		{"lvs -aoname vg", "lvs -a -o name vg"},
		{"lvremove -fy vg/a", "lvremove -f -y vg/a"},
		{"lvremove -ff vg/a", "lvremove -f -f vg/a"},
		{"lvremove -xyz vg/a", "lvremove -xyz vg/a"},
		{"lvcreate -- -L10G", "lvcreate -- -L10G"},
		{"--cluster-config c.json lvcreate -L10G vg", "--cluster-config c.json lvcreate -L 10G vg"},
		{"node list", "node list"},
		{"agent --config -L10G", "agent --config -L10G"},
		{"cluster init --nodes 3", "cluster init --nodes 3"},
		{"frob -L10G", "frob -L10G"},
	} {
		in := append([]string{"thinraft"}, strings.Fields(c.in)...)
		got := strings.Join(NormalizeArgs(root, in)[1:], " ")
		if got != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// FuzzArgv: normalising never panics, is idempotent, and only adds dashes
// and '=' (no word's letters are lost, reordered or invented).
func FuzzArgv(f *testing.F) {
	root := Root(&Env{})
	f.Add("lvcreate\x00-L10G\x00-T\x00vg/pool")
	f.Add("lvchange\x00-ay\x00-K\x00vg/s")
	f.Add("lvextend\x00-L\x00-1G\x00vg/t")
	f.Fuzz(func(t *testing.T, s string) {
		in := append([]string{"thinraft"}, strings.Split(s, "\x00")...)
		out := NormalizeArgs(root, slices.Clone(in))
		again := NormalizeArgs(root, slices.Clone(out))
		if !slices.Equal(out, again) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
		strip := func(w []string) string {
			return strings.NewReplacer("-", "", "=", "").Replace(strings.Join(w, ""))
		}
		if strip(in) != strip(out) {
			t.Fatalf("letters changed: %q -> %q", in, out)
		}
	})
}
