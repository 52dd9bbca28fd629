package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// How the bench creates its backing files: the plain files, and the pool's
// metadata and data files. A real pool sits on logical volumes whose
// blocks exist before the first write; a sparse file makes every first
// write to it pay for the file system's block allocation instead. The
// engine does not provision its data file behind its caller's back (a
// file given as a device is used as it is, like a block device); whoever
// creates the file decides, here the bench, identically for both sides.
const (
	// provSparse: truncate only; first writes allocate file blocks.
	provSparse = "sparse"
	// provFallocate: fallocate the whole size (unwritten extents; first
	// writes convert them).
	provFallocate = "fallocate"
	// provWritten: write the whole file with zeros and fdatasync, like a
	// device whose every block exists and has been written before.
	provWritten = "written"
)

func validProvision(p string) bool {
	return p == provSparse || p == provFallocate || p == provWritten
}

// createBacking creates (or truncates) path with size bytes, provisioned
// as prov says, and returns it open read-write.
func createBacking(path string, size int64, prov string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	if err := provision(f, size, prov); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func provision(f *os.File, size int64, prov string) error {
	switch prov {
	case provSparse:
		return f.Truncate(size)
	case provFallocate:
		return unix.Fallocate(int(f.Fd()), 0, 0, size)
	case provWritten:
		zeros := make([]byte, 1<<20)
		for off := int64(0); off < size; off += int64(len(zeros)) {
			n := min(int64(len(zeros)), size-off)
			if _, err := f.WriteAt(zeros[:n], off); err != nil {
				return err
			}
		}
		return unix.Fdatasync(int(f.Fd()))
	default:
		return fmt.Errorf("unknown provisioning %q", prov)
	}
}
