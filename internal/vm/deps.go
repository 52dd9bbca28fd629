package vm

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Missing is one absent prerequisite and the Debian package providing it.
type Missing struct {
	What    string
	Package string
}

// CheckDeps lists what the VM runner needs and cannot find: qemu, a kernel
// image with its modules, a static busybox, xz, and the thin tools the
// tests run in the guest.
func CheckDeps(opts Options) []Missing {
	opts.defaults()
	var m []Missing
	if _, err := exec.LookPath(opts.QEMU); err != nil {
		m = append(m, Missing{opts.QEMU, "qemu-system-x86"})
	}
	if _, err := NewestKernel(opts.BootDir, opts.ModDir); err != nil {
		m = append(m, Missing{"a kernel image with modules (" + filepath.Join(opts.BootDir, "vmlinuz-*") + ")", "linux-image-amd64"})
	}
	if err := isStatic(opts.Busybox); err != nil {
		m = append(m, Missing{"static busybox at " + opts.Busybox + " (" + err.Error() + ")", "busybox-static"})
	}
	if _, err := exec.LookPath("xz"); err != nil {
		m = append(m, Missing{"xz", "xz-utils"})
	}
	for _, t := range []string{"thin_check", "thin_dump"} {
		if _, err := exec.LookPath(t); err != nil {
			m = append(m, Missing{t, "thin-provisioning-tools"})
			break
		}
	}
	return m
}

// InstallCommand is the one command that installs the missing packages.
func InstallCommand(m []Missing) string {
	set := map[string]bool{}
	for _, x := range m {
		set[x.Package] = true
	}
	var pkgs []string
	for p := range set {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	return "apt-get update && apt-get install -y --no-install-recommends " + strings.Join(pkgs, " ")
}

// isStatic checks that path is an ELF executable without an interpreter:
// the guest's initramfs has no shared libraries (Debian's plain busybox
// package installs a dynamic /bin/busybox).
func isStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("missing")
		}
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked")
		}
	}
	return nil
}
