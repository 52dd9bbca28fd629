package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVgcfgbackup(t *testing.T) {
	f := seeded(t)
	path := filepath.Join(t.TempDir(), "meta.backup")
	code, out, errs := runFake(t, f, "", "vgcfgbackup -f "+path+" vg")
	if code != 0 || !strings.Contains(out, `Volume group "vg" successfully backed up.`) {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	h, err := readBackup(path)
	if err != nil || h.Index != 7 || h.VGs != 1 {
		t.Fatalf("backup file: %+v %v", h, err)
	}
	// A cut-off backup is refused by the same reader.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.backup")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readBackup(cut); err == nil {
		t.Fatal("a cut-off backup read as whole")
	}
	// A VG that does not exist: exit 5, and no file under the name.
	missing := filepath.Join(t.TempDir(), "no.backup")
	if code, _, errs := runFake(t, f, "", "vgcfgbackup -f "+missing+" nope"); code != ExitFailed || !strings.Contains(errs, "nope") {
		t.Fatalf("missing VG: exit %d %s", code, errs)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a failed backup left a file")
	}
}

func TestNBDArgs(t *testing.T) {
	f := seeded(t)
	for _, line := range []string{"nbd put vg/thin1", "nbd get thin1 out.img", "nbd put vg/thin1 x --offset 12q", "nbd get vg/thin1 x --length -1"} {
		if code, _, errs := runFake(t, f, "", line); code != ExitInvalid || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q: want 3 and one line", line, code, errs)
		}
	}
	for in, want := range map[string]uint64{"0": 0, "4096": 4096, "1k": 1024, "3M": 3 << 20, "2g": 2 << 30} {
		if got, err := parseBytes("offset", in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
