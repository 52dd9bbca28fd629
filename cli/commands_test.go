package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/cluster/client"
)

// runFake runs one command line against f and returns the exit code and
// output.
func runFake(t *testing.T, f *fakeAPI, stdin, line string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv:  func(k string) string { return map[string]string{EnvConfig: "unused"}[k] },
		Connect: func(client.Config) (API, error) { return f, nil }}
	a := append([]string{"thinraft"}, strings.Fields(line)...)
	code := runWith(context.Background(), env, a, f)
	return code, out.String(), errb.String()
}

// runWith is Run with the API given (no client configuration read).
func runWith(ctx context.Context, env *Env, argv []string, cl API) int {
	env.preset = cl
	return Run(ctx, env, argv)
}

// seeded is a fake with VG vg, pool vg/pool0 on n1 (64 KiB chunks, 1 GiB)
// and thin volume vg/thin1 (1 GiB).
func seeded(t *testing.T) *fakeAPI {
	f := newFake()
	for _, line := range []string{"vgcreate vg", "lvcreate --type thin-pool -L 1G -n pool0 --node n1 vg", "lvcreate -V 1G -n thin1 -T vg/pool0"} {
		if code, _, e := runFake(t, f, "", line); code != 0 {
			t.Fatalf("%s: exit %d %s", line, code, e)
		}
	}
	f.writes = nil
	return f
}

// TestCommandMapping: each command line's API calls, exit code and
// LVM-style output, against the in-memory fake.
func TestCommandMapping(t *testing.T) {
	for _, c := range []struct {
		line, stdin string
		code        int
		writes      []string
		out         string // substring of stdout (or stderr when code != 0)
		prompt      string // substring of stdout
		multi       bool   // several LVs: one error line each
	}{
		// Pools: sizes, LVM's defaults, placement on the emptiest up node.
		{line: "lvcreate --type thin-pool -L8M -n pool1 vg", writes: []string{"pool_create vg/pool1 node=n2 chunk=128 data=8388608 meta=2097152 zero=true discards=passdown einospc=false"}, out: `  Logical volume "pool1" created.`},
		{line: "lvcreate -T -L 100m vg/pool1 --node n1 -Zn --discards ignore --errorwhenfull y -c 256 --poolmetadatasize 4", writes: []string{"pool_create vg/pool1 node=n1 chunk=512 data=104857600 meta=4194304 zero=false discards=ignore einospc=true"}},
		{line: "lvcreate -L 1t --type thin-pool vg -n big", writes: []string{"pool_create vg/big node=n2 chunk=1024 data=1099511627776 meta=134217728 zero=true discards=passdown einospc=false"}},
		{line: "lvcreate -l 10 --type thin-pool vg -n p2", writes: []string{"pool_create vg/p2 node=n2 chunk=128 data=41943040 meta=2097152 zero=true discards=passdown einospc=false"}},
		// Pool and thin volume in one command (lvmthin(7)).
		{line: "lvcreate -L8M -V2G -n thin2 --thinpool vg/pool1", writes: []string{
			"pool_create vg/pool1 node=n2 chunk=128 data=8388608 meta=2097152 zero=true discards=passdown einospc=false",
			"volume_create vg/thin2 pool=pool1 size=2147483648 ro=false skip=false tags=[]"}},
		// Thin volumes.
		{line: "lvcreate -n thin2 -V 1T --thinpool pool0 vg", writes: []string{"volume_create vg/thin2 pool=pool0 size=1099511627776 ro=false skip=false tags=[]"}, out: `Logical volume "thin2" created.`},
		{line: "lvcreate -V1G -T vg/pool0 --addtag a --addtag b,c -pr", writes: []string{"volume_create vg/lvol0 pool=pool0 size=1073741824 ro=true skip=false tags=[a b c]"}},
		{line: "lvcreate --type thin -V 10 --thinpool vg/pool0 -n t -ky", writes: []string{"volume_create vg/t pool=pool0 size=10485760 ro=false skip=true tags=[]"}},
		{line: "lvcreate -V 1G -T vg/pool0 -n t -an", writes: []string{"volume_create vg/t pool=pool0 size=1073741824 ro=false skip=false tags=[]", "volume_patch vg/t active=false"}},
		// Snapshots: activation skip by default, -kn, -K.
		{line: "lvcreate -n s1 -s vg/thin1", writes: []string{"snapshot_create vg/s1 of thin1 ro=false noskip=false"}},
		{line: "lvcreate -kn -n s1 -s vg/thin1", writes: []string{"snapshot_create vg/s1 of thin1 ro=false noskip=true"}},
		{line: "lvcreate -s vg/thin1 -n s1 -ay -K", writes: []string{"snapshot_create vg/s1 of thin1 ro=false noskip=false", "volume_patch vg/s1 active=true"}},
		{line: "lvcreate -n s1 -s vg/thin1 --thinpool vg/pool0", writes: []string{"snapshot_create vg/s1 of thin1 ro=false noskip=false"}},
		// Refused before any call: thick-only LVs (exit 3).
		{line: "lvcreate -L 10G -n lv vg", code: 3, out: "not supported by thinraft: thin volumes only"},
		{line: "lvcreate -s vg/thin1 -L 1G -n cow", code: 3, out: "COW snapshot"},
		{line: "lvcreate --type raid1 -m1 -L 1G -n r vg", code: 3, out: "not supported by thinraft"},
		{line: "lvcreate --type cache -L 1G -n r vg", code: 3, out: "not supported by thinraft"},
		{line: "lvcreate -V 1G -n x vg", code: 3, out: "needs its pool"},
		{line: "lvcreate -T -L 1G", code: 3, out: "needs a VG"},
		{line: "lvcreate -L 1X --type thin-pool -n p vg", code: 3, out: "size \"1X\""},
		{line: "lvcreate --type thin-pool -L 1G -n p -c 100k vg", code: 3, out: "multiple of 64 KiB"},
		{line: "lvcreate --bogus vg", code: 3, out: "bogus"},
		{line: "lvcreate -V 1G -T vg/pool0 --node n2", code: 3, out: "--node places a new pool"},
		{line: "lvcreate -V 1G -n thin1 -T vg/pool0", code: 5, writes: []string{"volume_create vg/thin1 pool=pool0 size=1073741824 ro=false skip=false tags=[]"}, out: `Logical Volume "thin1" already exists in volume group "vg"`},
		{line: "vgcreate vg", code: 5, writes: []string{"vg_create vg tags=[] max=0"}, out: "A volume group called vg already exists."},
		// A failed call is exit 5 with the server's message.
		{line: "lvcreate -V 1G -n x -T vg/nopool", code: 5, writes: []string{"volume_create vg/x pool=nopool size=1073741824 ro=false skip=false tags=[]"}, out: "pool nopool not found"},
		// lvextend: relative, absolute, extents, pools refused without
		// the route; shrinking refused.
		{line: "lvextend -L+1G vg/thin1", writes: []string{"volume_patch vg/thin1 size=2147483648"}, out: "Size of logical volume vg/thin1 changed from 1.00 GiB (256 extents) to 2.00 GiB (512 extents)."},
		{line: "lvextend -L 3G vg/thin1 -r", writes: []string{"volume_patch vg/thin1 size=3221225472"}},
		{line: "lvextend -l +100%LV vg/thin1", writes: []string{"volume_patch vg/thin1 size=2147483648"}},
		{line: "lvextend -L 1G vg/thin1", code: 5, out: "matches existing size"},
		{line: "lvextend -L 512M vg/thin1", code: 3, out: "do not shrink"},
		{line: "lvextend -L-1G vg/thin1", code: 3, out: "do not shrink"},
		{line: "lvreduce -L-1G vg/thin1", code: 3, out: "do not shrink"},
		{line: "lvextend -l 100%FREE vg/thin1", code: 3, out: "no fixed size"},
		{line: "lvextend vg/thin1", code: 3, out: "needs -L"},
		{line: "lvextend --poolmetadatasize +1M vg/thin1", code: 3, out: "applies to a thin pool"},
		// lvrename, three forms.
		{line: "lvrename vg thin1 t2", writes: []string{"volume_patch vg/thin1 name=t2"}, out: `Renamed "thin1" to "t2" in volume group "vg"`},
		{line: "lvrename vg/thin1 vg/t2", writes: []string{"volume_patch vg/thin1 name=t2"}},
		{line: "lvrename vg/thin1 t2", writes: []string{"volume_patch vg/thin1 name=t2"}},
		{line: "lvrename vg/thin1 other/t2", code: 3},
		{line: "lvrename vg/thin1 pool0", code: 5, writes: []string{"volume_patch vg/thin1 name=pool0"}, out: `Logical Volume "pool0" already exists in volume group "vg"`},
		{line: "pvs n1", out: "n1"},
		{line: "lvs -S pool_lv=pool0 -o lv_name --noheadings", out: "  thin1\n"},
		{line: "lvs -Ssegtype=thin-pool -o lv_name --noheadings", out: "  pool0\n"},
		{line: "lvs -S lv_size>1 vg", code: 3, out: "cannot be selected on"},
		{line: "pvs n9", code: 5, out: `Failed to find physical volume "n9"`},
		{line: "lvrename vg/pool0 vg/p", code: 3, out: "renaming a thin pool"},
		// lvchange.
		{line: "lvchange -an vg/thin1", writes: []string{"volume_patch vg/thin1 active=false"}},
		{line: "lvchange -ay vg/thin1", writes: nil},
		{line: "lvchange -pr vg/thin1", writes: []string{"volume_patch vg/thin1 ro=true"}, out: "Logical volume vg/thin1 changed."},
		{line: "lvchange -ky vg/thin1", writes: []string{"volume_patch vg/thin1 skip=true"}},
		{line: "lvchange --addtag x vg/thin1", writes: []string{"volume_patch vg/thin1 tags=[x]"}},
		{line: "lvchange -Zn vg/pool0", code: 3},
		{line: "lvchange vg/thin1", code: 3, out: "needs something to change"},
		{line: "lvchange -a maybe vg/thin1", code: 3},
		// lvremove prompts like LVM, default no; -y and -f do not ask.
		{line: "lvremove vg/thin1", stdin: "n\n", code: 5, out: `Logical volume "thin1" not removed.`},
		{line: "lvremove vg/thin1", stdin: "", code: 5, out: `Logical volume "thin1" not removed.`},
		{line: "lvremove vg/thin1", stdin: "maybe\ny\n", prompt: "Do you really want to remove active logical volume vg/thin1? [y/n]: Do you really want", writes: []string{"volume_delete vg/thin1"}, out: `Logical volume "thin1" successfully removed.`},
		{line: "lvremove -y vg/thin1", writes: []string{"volume_delete vg/thin1"}},
		{line: "lvremove -f vg/pool0", writes: []string{"volume_delete vg/thin1", "pool_delete vg/pool0"}},
		{line: "lvremove vg/pool0", stdin: "y\ny\ny\n", writes: []string{"volume_delete vg/thin1", "pool_delete vg/pool0"}, out: `Removing pool "pool0" will remove 1 dependent volume(s). Proceed? [y/n]: `},
		{line: "lvremove vg/pool0", stdin: "y\nn\n", code: 5, multi: true, out: "  Logical volume \"thin1\" not removed.\n  Logical volume \"pool0\" not removed.\n"},
		{line: "lvremove vg/pool0", stdin: "y\ny\nn\n", code: 5, writes: []string{"volume_delete vg/thin1"}, out: `Logical volume "pool0" not removed.`},
		{line: "lvremove vg/thin1 vg/nothere vg/pool0", stdin: "y\ny\n", code: 5, writes: []string{"volume_delete vg/thin1", "pool_delete vg/pool0"}, out: `Failed to find logical volume "vg/nothere"`},
		{line: "lvremove vg/nothere", code: 5, out: `Failed to find logical volume "vg/nothere"`},
		{line: "lvremove", code: 3},
		// vgremove removes the LVs after a prompt.
		{line: "vgremove -f vg", writes: []string{"volume_delete vg/thin1", "pool_delete vg/pool0", "vg_delete vg"}, out: `Volume group "vg" successfully removed`},
		{line: "vgremove vg", stdin: "n\n", code: 5, out: `Volume group "vg" not removed`},
		{line: "vgremove vg", stdin: "y\nn\ny\n", code: 5, multi: true, out: "  Logical volume \"thin1\" not removed.\n  Logical volume \"pool0\" not removed.\n  Volume group \"vg\" not removed\n"},
		{line: "vgcreate vg2 /dev/sdb -l 10 --addtag t", writes: []string{"vg_create vg2 tags=[t] max=10"}, out: `Volume group "vg2" successfully created`},
		// lvconvert.
		{line: "lvconvert --type thin-pool --poolmetadata vg/m vg/d", code: 3, out: "not supported by thinraft"},
		{line: "lvconvert vg/thin1", code: 3},
		// Node membership.
		{line: "node leave n2", writes: []string{"node_leave n2"}},
		{line: "node remove n3 -y", writes: []string{"node_remove n3 force=false"}},
		{line: "node remove -f -y n2", writes: []string{"node_remove n2 force=true"}},
		// Pools grow: data by -L, metadata by --poolmetadatasize.
		{line: "lvextend -L+10G vg/pool0", writes: []string{"pool_grow vg/pool0 data=11811160064 meta=0"}, out: "Size of logical volume vg/pool0_tdata changed from 1.00 GiB (256 extents) to 11.00 GiB (2816 extents)."},
		{line: "lvextend --poolmetadatasize +12M vg/pool0", writes: []string{"pool_grow vg/pool0 data=0 meta=14680064"}, out: "Logical volume vg/pool0 successfully resized."},
		{line: "lvextend -L 2G --poolmetadatasize 1G vg/pool0", writes: []string{"pool_grow vg/pool0 data=2147483648 meta=1073741824"}},
		{line: "lvextend -L 512M vg/pool0", code: 3, out: "do not shrink"},
		{line: "node remove n3", stdin: "n\n"},
		{line: "vgremove nosuch", code: 5, out: `Volume group "nosuch" not found`},
	} {
		t.Run(c.line, func(t *testing.T) {
			f := seeded(t)
			code, out, errOut := runFake(t, f, c.stdin, c.line)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout %q\nstderr %q", code, c.code, out, errOut)
			}
			if !slices.Equal(f.writes, c.writes) {
				t.Errorf("writes\n got %q\nwant %q", f.writes, c.writes)
			}
			where := out
			if c.code != 0 {
				where = errOut
				if strings.Count(strings.TrimSpace(errOut), "\n") != 0 && !c.multi {
					t.Errorf("error is not one line: %q", errOut)
				}
			}
			if !strings.Contains(where, c.out) {
				t.Errorf("output %q does not contain %q", where, c.out)
			}
			if !strings.Contains(out, c.prompt) {
				t.Errorf("stdout %q does not contain %q", out, c.prompt)
			}
		})
	}
}

// TestMergeAndSkip: lvconvert --merge reverts the origin to the snapshot
// and removes the snapshot; -ay passes over an LV with the activation
// skip flag unless -K is given (lvmthin(7)).
func TestMergeAndSkip(t *testing.T) {
	f := seeded(t)
	if code, _, e := runFake(t, f, "", "lvcreate -n s1 -s vg/thin1"); code != 0 {
		t.Fatal(e)
	}
	f.writes = nil
	if code, _, e := runFake(t, f, "", "lvchange -ay vg/s1"); code != 0 || len(f.writes) != 0 || !strings.Contains(e, "add -K") {
		t.Fatalf("-ay without -K: exit %d writes %q stderr %q", code, f.writes, e)
	}
	if code, _, e := runFake(t, f, "", "lvchange -ay -K vg/s1"); code != 0 || !slices.Equal(f.writes, []string{"volume_patch vg/s1 active=true"}) {
		t.Fatalf("-ay -K: exit %d writes %q stderr %q", code, f.writes, e)
	}
	f.writes = nil
	code, out, e := runFake(t, f, "", "lvconvert --merge vg/s1")
	if code != 0 || !slices.Equal(f.writes, []string{"volume_revert vg/thin1 to s1", "volume_delete vg/s1"}) {
		t.Fatalf("merge: exit %d writes %q stderr %q", code, f.writes, e)
	}
	if !strings.Contains(out, "vg/thin1: Merged: 100.00%") {
		t.Errorf("merge output %q", out)
	}
	if code, _, e := runFake(t, f, "", "lvconvert --merge vg/thin1"); code != 5 || !strings.Contains(e, "not a thin snapshot") {
		t.Errorf("merge of a non-snapshot: exit %d %q", code, e)
	}
}

// TestClientConfigMissing: without a configuration the error names the
// fix (cluster init, the variable) and exits 3.
func TestClientConfigMissing(t *testing.T) {
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] }}
	code := Run(context.Background(), env, []string{"thinraft", "lvs"})
	if code != ExitInvalid || !strings.Contains(errb.String(), "thinraft cluster init") || !strings.Contains(errb.String(), EnvConfig) {
		t.Fatalf("exit %d, %q", code, errb.String())
	}
}
