package kernel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
)

const opMetadata = "metadata"

var _ dm.MetadataReader = (*Control)(nil)

// PoolMetadata implements dm.MetadataReader for a kernel pool: it finds the
// pool's metadata device in its live table, runs `thin_dump --metadata-snap`
// on it and parses the XML. Only the held root can be read (snap must be
// true and reserve_metadata_snap sent first): the live metadata is being
// rewritten by the kernel under any reader, and a dump of it is not a
// consistent view. That is the reason the held root exists.
//
// thin_dump opens the metadata device read-only and, with --metadata-snap,
// without O_EXCL, so it works while the pool holds the device. The device
// node comes from sysfs (/sys/dev/block/M:m/uevent); with no node in /dev
// (no udev or devtmpfs) one is made in a temporary directory.
func (c *Control) PoolMetadata(ctx context.Context, pool string, snap bool) (*dm.MetadataDump, error) {
	if !snap {
		return nil, &dm.Error{Op: opMetadata, Device: pool, Errno: syscall.EOPNOTSUPP,
			Detail: "the kernel's live metadata changes under a reader; send reserve_metadata_snap and read the held root (snap=true)"}
	}
	table, err := c.Table(ctx, pool, dm.TableOptions{})
	if err != nil {
		return nil, err
	}
	if len(table) != 1 || table[0].Type != dm.TargetThinPool {
		return nil, &dm.Error{Op: opMetadata, Device: pool, Errno: syscall.EINVAL, Detail: "not a thin-pool device"}
	}
	params, err := dm.ParseThinPoolParams(table[0].Params)
	if err != nil {
		return nil, &dm.Error{Op: opMetadata, Device: pool, Detail: err.Error()}
	}
	st, err := c.Status(ctx, pool, dm.StatusOptions{NoFlush: true})
	if err != nil {
		return nil, err
	}
	if len(st) != 1 || st[0].Type != dm.TargetThinPool {
		return nil, &dm.Error{Op: opMetadata, Device: pool, Errno: syscall.EINVAL, Detail: "not a thin-pool device"}
	}
	ps, err := dm.ParsePoolStatus(st[0].Params)
	if err != nil {
		return nil, &dm.Error{Op: opMetadata, Device: pool, Detail: err.Error()}
	}
	if !ps.HasHeldRoot {
		return nil, &dm.Error{Op: opMetadata, Device: pool, Kind: dm.ErrNoMetadataSnap, Errno: syscall.EINVAL,
			Detail: "no metadata snapshot held; send reserve_metadata_snap first"}
	}
	node, cleanup, err := blockNode(params.MetadataDev)
	if err != nil {
		return nil, &dm.Error{Op: opMetadata, Device: pool, Detail: fmt.Sprintf("metadata device %s: %v", params.MetadataDev, err)}
	}
	defer cleanup()
	d, err := thinDump(ctx, node, ps.TotalDataBlocks)
	if err != nil {
		return nil, &dm.Error{Op: opMetadata, Device: pool, Detail: err.Error()}
	}
	// The held view's own superblock holds no held root (as dm/emu reports).
	d.MetadataSnap = 0
	return d, nil
}

// thinDump runs thin_dump --metadata-snap on dev and parses its XML as it
// streams. The kernel's copy of the superblock behind a held root has its
// space map roots zeroed, so thin_dump reports nr_data_blocks="0" for it;
// nrData (the pool's data block count, which can only have grown since the
// root was taken) replaces it, or every mapping would be out of range.
func thinDump(ctx context.Context, dev string, nrData uint64) (*dm.MetadataDump, error) {
	bin, err := findThinDump()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--metadata-snap", dev)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("thin_dump: %w", err)
	}
	in := bufio.NewReaderSize(out, 1<<16)
	head, herr := superblockHead(in, nrData)
	var d *dm.MetadataDump
	perr := herr
	if perr == nil {
		d, perr = dm.ReadThinXML(io.MultiReader(bytes.NewReader(head), in))
	}
	if perr != nil {
		cancel() // stop a tool whose output we no longer read
	}
	_, _ = io.Copy(io.Discard, out)
	werr := cmd.Wait()
	switch {
	case werr != nil && perr == nil:
		return nil, fmt.Errorf("thin_dump --metadata-snap %s: %w: %s", dev, werr, strings.TrimSpace(stderr.String()))
	case werr != nil:
		return nil, fmt.Errorf("thin_dump --metadata-snap %s: %w: %s (parse: %v)", dev, werr, strings.TrimSpace(stderr.String()), perr)
	case perr != nil:
		return nil, fmt.Errorf("thin_dump --metadata-snap %s: %w", dev, perr)
	}
	return d, nil
}

// superblockHead reads thin_dump's output up to the end of the superblock
// start tag and fills in a zero nr_data_blocks with nrData.
func superblockHead(r *bufio.Reader, nrData uint64) ([]byte, error) {
	var head []byte
	for {
		if i := bytes.Index(head, []byte("<superblock")); i >= 0 && bytes.IndexByte(head[i:], '>') >= 0 {
			break
		}
		if len(head) > 1<<16 {
			return head, errors.New("no superblock in the first 64 KiB of thin_dump output")
		}
		chunk, err := r.ReadSlice('>')
		head = append(head, chunk...)
		if err != nil && err != bufio.ErrBufferFull {
			return head, fmt.Errorf("no superblock in thin_dump output: %w", err)
		}
	}
	zero := []byte(`nr_data_blocks="0"`)
	return bytes.Replace(head, zero, []byte(fmt.Sprintf(`nr_data_blocks="%d"`, nrData)), 1), nil
}

func findThinDump() (string, error) {
	if p, err := exec.LookPath("thin_dump"); err == nil {
		return p, nil
	}
	// A non-root PATH often lacks the sbin directories the Debian package
	// installs into.
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, "thin_dump")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("thin_dump not found: reading kernel pool metadata needs thin-provisioning-tools (apt-get install -y thin-provisioning-tools)")
}

// blockNode returns a block device node for ref, which a kernel table
// gives as MAJOR:MINOR (a path is used as it is). The node found through
// sysfs must really be that device; otherwise one is made in a temporary
// directory that cleanup removes.
func blockNode(ref string) (node string, cleanup func(), err error) {
	noop := func() {}
	if strings.Contains(ref, "/") {
		return ref, noop, nil
	}
	maj, min, err := parseMajorMinor(ref)
	if err != nil {
		return "", noop, err
	}
	want := unix.Mkdev(maj, min)
	if name, ok := ueventDevName(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", maj, min)); ok {
		p := "/dev/" + name
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == want {
			return p, noop, nil
		}
	}
	dir, err := os.MkdirTemp("", "thinraft-meta-")
	if err != nil {
		return "", noop, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	p := filepath.Join(dir, "meta")
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(want)); err != nil {
		cleanup()
		return "", noop, fmt.Errorf("mknod %s %d:%d: %w", p, maj, min, err)
	}
	return p, cleanup, nil
}

// ueventDevName reads DEVNAME= from a sysfs uevent file.
func ueventDevName(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "DEVNAME="); ok && v != "" && !strings.Contains(v, "..") {
			return v, true
		}
	}
	return "", false
}
