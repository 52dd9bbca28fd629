package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults of Options.
const (
	DefaultMemMB   = 1024
	DefaultSMP     = 2
	DefaultTimeout = 9 * time.Minute
	DefaultQEMU    = "qemu-system-x86_64"
	DefaultBusybox = "/bin/busybox"
	DefaultBootDir = "/boot"
	DefaultModDir  = "/lib/modules"
)

// Markers the guest prints on its console.
const (
	rcMarker     = "VMTEST_RC="
	kernelMarker = "VMTEST_KERNEL="
)

// ErrTimeout is returned when the guest did not finish in time (qemu was
// killed).
var ErrTimeout = errors.New("vm: guest timed out")

// Options configure the VM. Zero values take the defaults.
type Options struct {
	// CacheDir holds the extracted vmlinux and the base initramfs
	// (thinraft uses the repository's .vmbench/). Required.
	CacheDir string
	// Kernel is the kernel version to boot; default the newest installed.
	Kernel  string
	MemMB   int
	SMP     int
	Timeout time.Duration
	// Console receives the guest's serial console, line by line, as it
	// arrives. Default os.Stdout.
	Console io.Writer
	QEMU    string
	Busybox string
	BootDir string
	ModDir  string
	// KernelArgs are appended to the kernel command line.
	KernelArgs []string
}

func (o *Options) defaults() {
	if o.MemMB == 0 {
		o.MemMB = DefaultMemMB
	}
	if o.SMP == 0 {
		o.SMP = DefaultSMP
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Console == nil {
		o.Console = os.Stdout
	}
	if o.QEMU == "" {
		o.QEMU = DefaultQEMU
	}
	if o.Busybox == "" {
		o.Busybox = DefaultBusybox
	}
	if o.BootDir == "" {
		o.BootDir = DefaultBootDir
	}
	if o.ModDir == "" {
		o.ModDir = DefaultModDir
	}
}

// Program is what runs in the guest, as root, inside a chroot of the
// host's root filesystem.
type Program struct {
	// Path is the host binary; it is copied into the run's work dir, so
	// it may be a temporary file.
	Path string
	// Dir is the host directory to run in (seen at the same path).
	Dir  string
	Args []string
	// Env adds KEY=VALUE pairs to the guest environment.
	Env []string
}

// Result is what came back from the guest.
type Result struct {
	// ExitCode is the program's exit status in the guest.
	ExitCode int
	// Kernel is the guest's `uname -r`.
	Kernel  string
	Elapsed time.Duration
	// Passed, Failed and Skipped count the leaf tests of `go test -v`
	// result lines ("--- PASS: ..."): a test with subtests is counted
	// through its subtests only, so a suite of 100 cases under one
	// TestConformance reports 100.
	Passed, Failed, Skipped int
}

// Run boots the kernel, runs prog and returns its exit status. The error
// is non-nil only when the VM itself failed (no result marker, timeout,
// qemu missing); a failing program is Result.ExitCode != 0.
func Run(ctx context.Context, opts Options, prog Program) (Result, error) {
	opts.defaults()
	start := time.Now()
	if opts.CacheDir == "" {
		return Result{}, errors.New("vm: Options.CacheDir is required")
	}
	kver := opts.Kernel
	if kver == "" {
		var err error
		if kver, err = NewestKernel(opts.BootDir, opts.ModDir); err != nil {
			return Result{}, err
		}
	}
	vmlinux, err := VMLinux(opts.CacheDir, kver, filepath.Join(opts.BootDir, "vmlinuz-"+kver))
	if err != nil {
		return Result{}, err
	}
	initrd, err := BaseInitramfs(opts.CacheDir, kver, filepath.Join(opts.ModDir, kver), opts.Busybox)
	if err != nil {
		return Result{}, err
	}
	work, err := os.MkdirTemp("", "vmtest-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(work)
	if err := stage(work, prog); err != nil {
		return Result{}, err
	}

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, opts.QEMU, qemuArgs(opts, vmlinux, initrd, work)...)
	cmd.WaitDelay = 3 * time.Second
	cmd.Stdin = nil
	cmd.Stderr = opts.Console
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("vm: start %s: %w", opts.QEMU, err)
	}
	res, sawRC := scanConsole(out, opts.Console)
	waitErr := cmd.Wait()
	res.Elapsed = time.Since(start)
	switch {
	case ctx.Err() != nil && !sawRC:
		return res, fmt.Errorf("%w after %v (qemu killed)", ErrTimeout, opts.Timeout)
	case !sawRC:
		return res, fmt.Errorf("vm: guest ended without a %s line (qemu: %v)", rcMarker, waitErr)
	}
	return res, nil
}

// scanConsole streams the console to w and picks up the markers and test
// result lines.
func scanConsole(r io.Reader, w io.Writer) (Result, bool) {
	var res Result
	sawRC := false
	// go test -v prints a parent's result line before its subtests',
	// which are indented deeper: a deeper line after a result line
	// makes that one a parent, and it is uncounted.
	var lastCounter *int
	lastIndent := -1
	count := func(c *int, indent int) {
		if lastCounter != nil && indent > lastIndent {
			*lastCounter--
		}
		*c++
		lastCounter, lastIndent = c, indent
	}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 4<<20)
	for s.Scan() {
		line := strings.TrimRight(s.Text(), "\r")
		fmt.Fprintln(w, line)
		t := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		switch {
		case strings.HasPrefix(t, rcMarker):
			if n, err := strconv.Atoi(strings.TrimPrefix(t, rcMarker)); err == nil {
				res.ExitCode, sawRC = n, true
			}
		case strings.HasPrefix(t, kernelMarker):
			res.Kernel = strings.TrimPrefix(t, kernelMarker)
		case strings.HasPrefix(t, "--- PASS:"):
			count(&res.Passed, indent)
		case strings.HasPrefix(t, "--- FAIL:"):
			count(&res.Failed, indent)
		case strings.HasPrefix(t, "--- SKIP:"):
			count(&res.Skipped, indent)
		}
	}
	// Keep draining if the scanner stopped early (an over-long line), so
	// qemu never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
	return res, sawRC
}

func qemuArgs(o Options, vmlinux, initrd, work string) []string {
	appendLine := []string{"console=ttyS0", "quiet", "loglevel=3", "panic=-1", "random.trust_cpu=on"}
	appendLine = append(appendLine, o.KernelArgs...)
	return []string{
		"-accel", "tcg,thread=multi", "-cpu", "max",
		"-smp", strconv.Itoa(o.SMP), "-m", strconv.Itoa(o.MemMB),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio", "-monitor", "none",
		"-kernel", vmlinux, "-initrd", initrd,
		"-append", strings.Join(appendLine, " "),
		"-fsdev", "local,id=hr,path=/,security_model=none,readonly=on,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=hr,mount_tag=hostroot",
		"-fsdev", "local,id=wk,path=" + work + ",security_model=none,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=wk,mount_tag=work",
	}
}

// stage copies the program into the work dir and writes run.sh, which
// the guest's init runs in the chroot.
func stage(work string, prog Program) error {
	if err := copyFile(prog.Path, filepath.Join(work, "prog"), 0o755); err != nil {
		return fmt.Errorf("vm: stage program: %w", err)
	}
	dir, err := filepath.Abs(prog.Dir)
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if hiddenInGuest(dir) {
		dir = "/run/host" + dir
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	b.WriteString("echo " + kernelMarker + "$(uname -r)\n")
	b.WriteString("export HOME=/tmp TMPDIR=/tmp DM_DISABLE_UDEV=1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
	for _, e := range prog.Env {
		b.WriteString("export " + shellQuote(e) + "\n")
	}
	b.WriteString("cd " + shellQuote(dir) + " || exit 125\n")
	b.WriteString("/run/vmtest/prog")
	for _, a := range prog.Args {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString("\nrc=$?\n")
	// The kernel's own complaints (dm errors are logged, not returned)
	// explain most failures; the console shows them only on failure.
	b.WriteString("[ $rc = 0 ] || { echo 'vmtest: last kernel messages:'; dmesg | tail -n 40 | sed 's/^/kmsg: /'; }\n")
	b.WriteString("exit $rc\n")
	return os.WriteFile(filepath.Join(work, "run.sh"), []byte(b.String()), 0o755)
}

// hiddenInGuest reports whether the guest mounts a tmpfs over dir.
func hiddenInGuest(dir string) bool {
	for _, p := range []string{"/tmp", "/run", "/var/tmp", "/proc", "/sys", "/dev"} {
		if dir == p || strings.HasPrefix(dir, p+"/") {
			return true
		}
	}
	return false
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
