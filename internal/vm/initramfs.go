package vm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cavaliergopher/cpio"
)

//go:embed init.sh
var initScript []byte

// Modules is the load order: insmod resolves no dependencies, and
// crc32c_generic must precede libcrc32c, which asks for the crc32c hash at
// load time and would otherwise try a modprobe that the guest lacks.
var Modules = []string{
	"crc32c_generic", "libcrc32c",
	"dm-mod", "dm-bufio", "dm-bio-prison", "dm-persistent-data", "dm-thin-pool", "dm-snapshot",
	"loop",
	"virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
	"netfs", "fscache", "9pnet", "9pnet_virtio", "9p",
}

// moduleKey normalises a module name: the kernel treats - and _ alike.
func moduleKey(name string) string { return strings.ReplaceAll(name, "-", "_") }

// findModules maps each wanted module to its file using modules.dep, and
// reports built-in ones (modules.builtin) as "" (nothing to load).
func findModules(modDir string, names []string) (map[string]string, error) {
	files := map[string]string{}
	if err := scanLines(filepath.Join(modDir, "modules.dep"), func(line string) {
		rel, _, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		base := filepath.Base(rel)
		base = base[:strings.Index(base, ".ko")]
		files[moduleKey(base)] = filepath.Join(modDir, rel)
	}); err != nil {
		return nil, err
	}
	builtin := map[string]bool{}
	_ = scanLines(filepath.Join(modDir, "modules.builtin"), func(line string) {
		base := filepath.Base(strings.TrimSpace(line))
		if i := strings.Index(base, ".ko"); i > 0 {
			builtin[moduleKey(base[:i])] = true
		}
	})
	out := map[string]string{}
	for _, n := range names {
		k := moduleKey(n)
		switch {
		case files[k] != "":
			out[n] = files[k]
		case builtin[k]:
			out[n] = ""
		default:
			return nil, fmt.Errorf("kernel module %s: not in %s/modules.dep nor built in", n, modDir)
		}
	}
	return out, nil
}

func scanLines(path string, fn func(string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<16), 1<<20)
	for s.Scan() {
		fn(s.Text())
	}
	return s.Err()
}

// readModule returns a module file's plain ELF contents, decompressing
// .ko.xz / .ko.zst with the xz / zstd tools (no Go decoder without a new
// module).
func readModule(path string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(path, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(path, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(path, ".ko.zst"):
		tool = "zstd"
	case strings.HasSuffix(path, ".ko.gz"):
		tool = "gzip"
	default:
		return nil, fmt.Errorf("module %s: unknown compression", path)
	}
	out, err := exec.Command(tool, "-dc", path).Output()
	if err != nil {
		return nil, fmt.Errorf("module %s: %s -dc: %w", path, tool, err)
	}
	return out, nil
}

// BaseInitramfs returns the base initramfs (busybox, /init, modules) for
// kver, building it into cacheDir/KVER/ when its inputs changed. It is an
// uncompressed newc archive: the kernel unpacks it faster than gzip under
// TCG, and qemu copies it in one go.
func BaseInitramfs(cacheDir, kver, modDir, busybox string) (string, error) {
	mods, err := findModules(modDir, Modules)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(initScript)
	for _, n := range Modules {
		fmt.Fprintf(h, "%s=%s;", n, stamp(mods[n]))
	}
	fmt.Fprintf(h, "busybox=%s", stamp(busybox))
	key := hex.EncodeToString(h.Sum(nil))[:16]
	out := filepath.Join(cacheDir, kver, "base-"+key+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return "", fmt.Errorf("busybox (busybox-static): %w", err)
	}
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "run", "newroot", "lib", "lib/modules"} {
		if err := writeDir(w, d); err != nil {
			return "", err
		}
	}
	if err := writeFile(w, "init", initScript, 0o755); err != nil {
		return "", err
	}
	if err := writeFile(w, "bin/busybox", bb, 0o755); err != nil {
		return "", err
	}
	var order strings.Builder
	for _, n := range Modules {
		if mods[n] == "" {
			continue // built in
		}
		data, err := readModule(mods[n])
		if err != nil {
			return "", err
		}
		if err := writeFile(w, "lib/modules/"+n+".ko", data, 0o644); err != nil {
			return "", err
		}
		order.WriteString(n + "\n")
	}
	if err := writeFile(w, "modules.order", []byte(order.String()), 0o644); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := writeAtomic(out, buf.Bytes()); err != nil {
		return "", err
	}
	// Older bases of this kernel (other inputs) are dead weight.
	if old, err := filepath.Glob(filepath.Join(filepath.Dir(out), "base-*.cpio")); err == nil {
		for _, o := range old {
			if o != out {
				os.Remove(o)
			}
		}
	}
	return out, nil
}

// stamp identifies a file's version cheaply (path, size, mtime).
func stamp(path string) string {
	if path == "" {
		return "builtin"
	}
	st, err := os.Stat(path)
	if err != nil {
		return path + ":missing"
	}
	return fmt.Sprintf("%s:%d:%d", path, st.Size(), st.ModTime().UnixNano())
}

func writeDir(w *cpio.Writer, name string) error {
	return w.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeDir | 0o755})
}

func writeFile(w *cpio.Writer, name string, data []byte, perm cpio.FileMode) error {
	if err := w.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeReg | perm, Size: int64(len(data))}); err != nil {
		return fmt.Errorf("initramfs %s: %w", name, err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("initramfs %s: %w", name, err)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, bytes.NewReader(data)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
