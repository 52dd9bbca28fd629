package vm

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestVersionOrder(t *testing.T) {
	vers := []string{"6.1.0-100-amd64", "6.1.0-56-amd64", "5.10.0-9-amd64", "6.1.0-9-amd64", "6.10.0-1-amd64"}
	sort.Slice(vers, func(i, j int) bool { return versionLess(vers[i], vers[j]) })
	want := "5.10.0-9-amd64 6.1.0-9-amd64 6.1.0-56-amd64 6.1.0-100-amd64 6.10.0-1-amd64"
	if got := strings.Join(vers, " "); got != want {
		t.Errorf("order %s\nwant  %s", got, want)
	}
}

func TestNewestKernelNeedsImageAndModules(t *testing.T) {
	boot, mods := t.TempDir(), t.TempDir()
	for _, v := range []string{"6.1.0-9-amd64", "6.1.0-56-amd64", "6.2.0-1-amd64"} {
		os.Mkdir(filepath.Join(mods, v), 0o755)
	}
	for _, v := range []string{"6.1.0-9-amd64", "6.1.0-56-amd64"} { // 6.2 has modules only
		os.WriteFile(filepath.Join(boot, "vmlinuz-"+v), nil, 0o644)
	}
	got, err := NewestKernel(boot, mods)
	if err != nil || got != "6.1.0-56-amd64" {
		t.Errorf("NewestKernel = %q, %v", got, err)
	}
	if _, err := NewestKernel(t.TempDir(), mods); err == nil {
		t.Error("no images: no error")
	}
}

func TestFindModules(t *testing.T) {
	dir := t.TempDir()
	dep := "kernel/drivers/md/dm-mod.ko.xz:\nkernel/drivers/md/dm-thin-pool.ko: kernel/drivers/md/dm-mod.ko.xz\nkernel/lib/libcrc32c.ko.zst:\n"
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644)
	os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/drivers/block/loop.ko\n"), 0o644)
	got, err := findModules(dir, []string{"dm_mod", "dm-thin-pool", "libcrc32c", "loop"})
	if err != nil {
		t.Fatal(err)
	}
	if got["dm_mod"] != filepath.Join(dir, "kernel/drivers/md/dm-mod.ko.xz") || got["loop"] != "" ||
		got["dm-thin-pool"] != filepath.Join(dir, "kernel/drivers/md/dm-thin-pool.ko") {
		t.Errorf("got %v", got)
	}
	if _, err := findModules(dir, []string{"9p"}); err == nil {
		t.Error("missing module: no error")
	}
}

func TestScanConsole(t *testing.T) {
	console := "boot noise\r\nVMTEST_KERNEL=6.1.0-56-amd64\r\n=== RUN   TestA\r\n--- PASS: TestA (0.00s)\r\n" +
		"    --- PASS: TestA/x (0.00s)\r\n    --- FAIL: TestA/y (0.00s)\r\n--- SKIP: TestB (0.00s)\r\n" +
		"[    3.1] device-mapper: thin: something\r\nVMTEST_RC=1\r\n[    3.2] reboot: Power down\r\n"
	var out strings.Builder
	res, ok := scanConsole(strings.NewReader(console), &out)
	// TestA has subtests: only x (pass) and y (fail) count.
	if !ok || res.ExitCode != 1 || res.Kernel != "6.1.0-56-amd64" || res.Passed != 1 || res.Failed != 1 || res.Skipped != 1 {
		t.Errorf("got %+v ok=%v", res, ok)
	}
	if strings.Contains(out.String(), "\r") || !strings.Contains(out.String(), "boot noise\n") {
		t.Errorf("console not streamed line by line: %q", out.String())
	}
	if _, ok := scanConsole(strings.NewReader("kernel panic\n"), &out); ok {
		t.Error("no marker reported as a result")
	}
}

func TestScanConsoleCountsLeaves(t *testing.T) {
	console := "--- FAIL: TestConformance (1s)\n    --- PASS: TestConformance/a (0s)\n" +
		"    --- FAIL: TestConformance/b (0s)\n        --- PASS: TestConformance/b/1 (0s)\n" +
		"        --- FAIL: TestConformance/b/2 (0s)\n    --- PASS: TestConformance/c (0s)\n--- PASS: TestOther (0s)\nVMTEST_RC=1\n"
	res, _ := scanConsole(strings.NewReader(console), io.Discard)
	if res.Passed != 4 || res.Failed != 1 { // a, b/1, c, TestOther; b/2
		t.Errorf("leaves: got %d passed %d failed, want 4 and 1", res.Passed, res.Failed)
	}
}

func TestStageScript(t *testing.T) {
	work := t.TempDir()
	bin := filepath.Join(t.TempDir(), "x.test")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	pkg := t.TempDir() // under /tmp on most hosts: hidden by the guest's tmpfs
	err := stage(work, Program{Path: bin, Dir: pkg, Args: []string{"-test.run", "Test'A b"}, Env: []string{"X=1"}})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(work, "prog")); err != nil || st.Mode()&0o100 == 0 {
		t.Fatalf("program not staged executable: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(work, "run.sh"))
	s := string(b)
	real, _ := filepath.EvalSymlinks(pkg)
	wantDir := real
	if hiddenInGuest(real) {
		wantDir = "/run/host" + real
	}
	for _, want := range []string{
		"cd '" + wantDir + "' || exit 125",
		`/run/vmtest/prog '-test.run' 'Test'\''A b'`,
		"export 'X=1'",
		kernelMarker,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("run.sh lacks %q:\n%s", want, s)
		}
	}
}

func TestCheckDepsReportsPackages(t *testing.T) {
	m := CheckDeps(Options{QEMU: "no-such-qemu-binary", Busybox: "/nonexistent/busybox", BootDir: t.TempDir(), ModDir: t.TempDir()})
	pk := map[string]bool{}
	for _, x := range m {
		pk[x.Package] = true
	}
	for _, p := range []string{"qemu-system-x86", "busybox-static", "linux-image-amd64"} {
		if !pk[p] {
			t.Errorf("missing %s not reported: %+v", p, m)
		}
	}
	cmd := InstallCommand(m)
	if !strings.HasPrefix(cmd, "apt-get update && apt-get install -y --no-install-recommends ") ||
		!strings.Contains(cmd, "busybox-static linux-image-amd64") {
		t.Errorf("install command %q", cmd)
	}
}

func TestIsStaticRefusesDynamic(t *testing.T) {
	if err := isStatic("/bin/sh"); err == nil {
		t.Skip("/bin/sh is static here; nothing to compare")
	}
	if err := isStatic(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing file accepted")
	}
}
