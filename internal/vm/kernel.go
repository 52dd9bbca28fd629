package vm

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// xzMagic starts the XZ stream inside a Debian bzImage.
var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

// NewestKernel returns the newest kernel version that has both
// /boot/vmlinuz-VER and /lib/modules/VER.
func NewestKernel(bootDir, modDir string) (string, error) {
	ents, err := os.ReadDir(modDir)
	if err != nil {
		return "", fmt.Errorf("list kernels: %w", err)
	}
	var vers []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(bootDir, "vmlinuz-"+e.Name())); err == nil {
			vers = append(vers, e.Name())
		}
	}
	if len(vers) == 0 {
		return "", fmt.Errorf("no kernel with both %s/vmlinuz-VER and %s/VER", bootDir, modDir)
	}
	sort.Slice(vers, func(i, j int) bool { return versionLess(vers[i], vers[j]) })
	return vers[len(vers)-1], nil
}

// versionLess orders kernel versions numerically field by field
// ("6.1.0-56-amd64" < "6.1.0-100-amd64"), like sort -V for these names.
func versionLess(a, b string) bool {
	fa, fb := splitVersion(a), splitVersion(b)
	for i := 0; i < len(fa) && i < len(fb); i++ {
		na, ea := strconv.Atoi(fa[i])
		nb, eb := strconv.Atoi(fb[i])
		switch {
		case ea == nil && eb == nil && na != nb:
			return na < nb
		case (ea != nil || eb != nil) && fa[i] != fb[i]:
			return fa[i] < fb[i]
		}
	}
	return len(fa) < len(fb)
}

func splitVersion(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' || r == '_' })
}

// VMLinux returns the uncompressed, PVH-bootable vmlinux of the kernel
// image, extracting it into cacheDir/KVER/vmlinux the first time.
func VMLinux(cacheDir, kver, bzImage string) (string, error) {
	out := filepath.Join(cacheDir, kver, "vmlinux")
	if isELF(out) == nil {
		return out, nil
	}
	img, err := os.ReadFile(bzImage)
	if err != nil {
		return "", fmt.Errorf("read kernel image: %w", err)
	}
	off := bytes.Index(img, xzMagic)
	if off < 0 {
		return "", fmt.Errorf("%s: no XZ payload (not an XZ-compressed bzImage)", bzImage)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	// The bzImage carries a trailer after the XZ stream; xz decodes the
	// stream, writes it and then complains about the trailing bytes, so
	// its exit status is not the test: the ELF check below is.
	cmd := exec.Command("xz", "-dc", "--single-stream")
	cmd.Stdin = bytes.NewReader(img[off:])
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := isELF(tmp); err != nil {
		return "", fmt.Errorf("extract vmlinux from %s: %v (xz: %v %s)", bzImage, err, runErr, strings.TrimSpace(stderr.String()))
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}

func isELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}
