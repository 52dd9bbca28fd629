package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/thinraft/thinraft/internal/vm"
)

// Exit statuses besides the test binary's own.
const (
	exitUsage    = 2
	exitVMFailed = 3
	exitTimeout  = 124
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(argv []string) int {
	fs := flag.NewFlagSet("vmtest", flag.ContinueOnError)
	timeout := fs.Duration("timeout", vm.DefaultTimeout, "hard limit for the guest (qemu is killed)")
	mem := fs.Int("mem", vm.DefaultMemMB, "guest memory in MiB")
	smp := fs.Int("smp", vm.DefaultSMP, "guest CPUs")
	kver := fs.String("kernel", "", "kernel version to boot (default: newest in /boot with modules)")
	cache := fs.String("cache", "", "cache dir for vmlinux and initramfs (default: <module root>/.vmbench)")
	checkDeps := fs.Bool("check-deps", false, "check prerequisites; print the install command and exit 2 if any is missing")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vmtest [flags] PKG [-- test binary args]\n       vmtest -check-deps\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return exitUsage
	}
	opts := vm.Options{Kernel: *kver, MemMB: *mem, SMP: *smp, Timeout: *timeout}
	if *checkDeps {
		return reportDeps(opts)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitUsage
	}
	pkg, testArgs := rest[0], rest[1:]
	if len(testArgs) > 0 && testArgs[0] == "--" {
		testArgs = testArgs[1:]
	}
	if m := vm.CheckDeps(opts); len(m) > 0 {
		return reportDeps(opts)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		return exitVMFailed
	}
	opts.CacheDir = *cache
	if opts.CacheDir == "" {
		opts.CacheDir = filepath.Join(root, ".vmbench")
	}
	dir, err := goOutput(ctx, "list", "-f", "{{.Dir}}", pkg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		return exitVMFailed
	}
	tmp, err := os.MkdirTemp("", "vmtest-build-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		return exitVMFailed
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "pkg.test")
	t0 := time.Now()
	if err := buildTest(ctx, pkg, bin); err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		return exitVMFailed
	}
	fmt.Printf("vmtest: built %s in %.1fs; booting the guest\n", pkg, time.Since(t0).Seconds())

	res, err := vm.Run(ctx, opts, vm.Program{Path: bin, Dir: dir, Args: testArgs})
	status := "no exit status (the guest did not finish)"
	if err == nil {
		status = fmt.Sprintf("exit status %d", res.ExitCode)
	}
	fmt.Printf("vmtest: kernel %s: %d passed, %d failed, %d skipped; %s; %.1fs\n",
		orUnknown(res.Kernel), res.Passed, res.Failed, res.Skipped, status, res.Elapsed.Seconds())
	switch {
	case errors.Is(err, vm.ErrTimeout):
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		return exitTimeout
	case err != nil:
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		return exitVMFailed
	}
	return res.ExitCode
}

func reportDeps(opts vm.Options) int {
	m := vm.CheckDeps(opts)
	if len(m) == 0 {
		fmt.Println("vmtest: all prerequisites present")
		return 0
	}
	for _, x := range m {
		fmt.Fprintf(os.Stderr, "vmtest: missing %s (package %s)\n", x.What, x.Package)
	}
	fmt.Fprintln(os.Stderr, "vmtest: install them with:")
	fmt.Println(vm.InstallCommand(m))
	return exitUsage
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// buildTest compiles PKG's test binary statically: the guest runs it in a
// chroot of the host root, but static means no surprise from its libc.
func buildTest(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test -c %s: %w", pkg, err)
	}
	if _, err := os.Stat(out); err != nil {
		return fmt.Errorf("go test -c %s produced no binary (no test files?)", pkg)
	}
	return nil
}

func moduleRoot() (string, error) {
	gomod, err := goOutput(context.Background(), "env", "GOMOD")
	if err != nil {
		return "", err
	}
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

func goOutput(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go %s: %s", strings.Join(args, " "), strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
