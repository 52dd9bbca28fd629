package dmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/thinraft/thinraft/dm"
)

// InstallThinTools is the one command that provides the tools the metadata
// checks need; a missing tool fails the test with it (never a skip).
const InstallThinTools = "apt-get install -y thin-provisioning-tools"

// ThinTool finds a thin-provisioning-tools binary (PATH, then the sbin
// directories a non-root PATH lacks).
func ThinTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p = filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: the metadata check needs thin-provisioning-tools; run  %s", name, InstallThinTools)
}

// RunThinTool runs a thin-provisioning-tools binary and returns its
// standard output; a failure carries the combined output.
func RunThinTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	bin, err := ThinTool(name)
	if err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err,
			strings.TrimSpace(out.String()), strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// ThinCheck runs thin_check on a metadata device or file and returns an
// error with its output unless the metadata is clean.
func ThinCheck(ctx context.Context, path string) error {
	_, err := RunThinTool(ctx, "thin_check", path)
	return err
}

// RestoreAndCheck is the userspace engine's second oracle: the engine's
// metadata, exported as thin_dump XML, must restore with thin_restore into
// valid dm-thin metadata (thin_check clean). dir receives the XML and the
// restored file; metaSize is the size of the pool's metadata device.
func RestoreAndCheck(ctx context.Context, d *dm.MetadataDump, dir string, metaSize int64) error {
	xmlPath := filepath.Join(dir, "metadata.xml")
	f, err := os.Create(xmlPath)
	if err != nil {
		return fmt.Errorf("metadata xml: %w", err)
	}
	werr := dm.WriteThinXML(f, d)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write metadata xml: %w", werr)
	}
	out := filepath.Join(dir, "metadata.restored")
	// thin_restore needs room for the space maps of the whole data device
	// and its btrees; the pool's own metadata size always suffices for the
	// kernel, give the tool at least 8 MiB.
	size := max(metaSize, 8<<20)
	if err := os.WriteFile(out, nil, 0o644); err != nil {
		return fmt.Errorf("restore target: %w", err)
	}
	if err := os.Truncate(out, size); err != nil {
		return fmt.Errorf("restore target: %w", err)
	}
	if _, err := RunThinTool(ctx, "thin_restore", "-i", xmlPath, "-o", out); err != nil {
		return err
	}
	return ThinCheck(ctx, out)
}
