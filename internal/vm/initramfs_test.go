package vm

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

// TestBaseInitramfs builds the base archive from this machine's kernel
// modules and busybox and reads it back.
func TestBaseInitramfs(t *testing.T) {
	kver, err := NewestKernel(DefaultBootDir, DefaultModDir)
	if err != nil {
		t.Skipf("no kernel here (%v): make vm-deps", err)
	}
	if err := isStatic(DefaultBusybox); err != nil {
		t.Skipf("no static busybox (%v): make vm-deps", err)
	}
	cache := t.TempDir()
	path, err := BaseInitramfs(cache, kver, filepath.Join(DefaultModDir, kver), DefaultBusybox)
	if err != nil {
		t.Fatal(err)
	}
	again, err := BaseInitramfs(cache, kver, filepath.Join(DefaultModDir, kver), DefaultBusybox)
	if err != nil || again != path {
		t.Errorf("second build not served from the cache: %s vs %s (%v)", again, path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := cpio.NewReader(f)
	files := map[string][]byte{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Mode.IsRegular() {
			b, _ := io.ReadAll(r)
			files[h.Name] = b
		}
	}
	if !bytes.Equal(files["init"], initScript) {
		t.Error("init script missing or different")
	}
	if len(files["bin/busybox"]) == 0 {
		t.Error("busybox missing")
	}
	order := strings.Fields(string(files["modules.order"]))
	if len(order) == 0 || order[0] != "crc32c_generic" || order[1] != "libcrc32c" {
		t.Errorf("module order %v", order)
	}
	for _, m := range order {
		ko := files["lib/modules/"+m+".ko"]
		if !bytes.HasPrefix(ko, []byte("\x7fELF")) {
			t.Errorf("module %s is not a plain ELF (%d bytes)", m, len(ko))
		}
	}
}
