package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/emu"
)

// dev is what a pattern drives: a plain file or a thin device.
type dev interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Flush() error
	// dropCache flushes and evicts the side's files from the page cache.
	dropCache() error
	Close() error
}

// plainDev is a file (provisioned as the pool's files are) written with pwrite and made durable with
// fdatasync, as the engine's data file is.
type plainDev struct {
	f *os.File
}

func newPlainDev(path string, size int64, prov string) (*plainDev, error) {
	f, err := createBacking(path, size, prov)
	if err != nil {
		return nil, fmt.Errorf("plain file: %w", err)
	}
	return &plainDev{f: f}, nil
}

func (p *plainDev) ReadAt(b []byte, off int64) (int, error)  { return p.f.ReadAt(b, off) }
func (p *plainDev) WriteAt(b []byte, off int64) (int, error) { return p.f.WriteAt(b, off) }
func (p *plainDev) Flush() error                             { return unix.Fdatasync(int(p.f.Fd())) }
func (p *plainDev) dropCache() error {
	if err := p.Flush(); err != nil {
		return err
	}
	return unix.Fadvise(int(p.f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

func (p *plainDev) Close() error {
	err := p.f.Close()
	if rerr := os.Remove(p.f.Name()); err == nil {
		err = rerr
	}
	return err
}

// pool is one emu thin pool (64 KiB chunks by default) in dir.
type pool struct {
	ctx   context.Context
	eng   *emu.Engine
	dir   string
	name  string
	files []string // metadata and data file, for dropping their cache
	next  uint32
}

func newPool(ctx context.Context, dir string, dataBytes, metaBytes int64, blockSectors uint64, zero bool, prov string) (*pool, error) {
	eng, err := emu.New(emu.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	p := &pool{ctx: ctx, eng: eng, dir: dir, name: "bench-pool", next: 1}
	for _, f := range []struct {
		name string
		size int64
	}{{"meta", metaBytes}, {"data", dataBytes}} {
		path := filepath.Join(dir, f.name)
		bf, err := createBacking(path, f.size, prov)
		if err == nil {
			err = bf.Close()
		}
		if err != nil {
			eng.Close()
			return nil, err
		}
		p.files = append(p.files, path)
	}
	params := dm.ThinPoolParams{MetadataDev: "meta", DataDev: "data", DataBlockSectors: blockSectors,
		Features: dm.PoolFeatures{SkipBlockZeroing: !zero}}
	tbl := dm.Table{params.Target(uint64(dataBytes) / dm.SectorSize)}
	if _, err := eng.Create(ctx, p.name, dm.CreateOptions{Table: tbl}); err != nil {
		eng.Close()
		return nil, fmt.Errorf("create pool: %w", err)
	}
	return p, nil
}

func (p *pool) msg(m string) error {
	_, err := p.eng.Message(p.ctx, p.name, 0, m)
	return err
}

// thinDev is an open thin device of the pool.
type thinDev struct {
	dm.BlockDevice
	p    *pool
	id   uint32
	name string
}

// newThin creates thin device id (create_thin), activates it with size
// bytes and opens it.
func (p *pool) newThin(size int64) (*thinDev, error) {
	id := p.next
	p.next++
	if err := p.msg(dm.CreateThinMsg(id)); err != nil {
		return nil, fmt.Errorf("create_thin %d: %w", id, err)
	}
	return p.activate(id, size)
}

func (p *pool) activate(id uint32, size int64) (*thinDev, error) {
	name := fmt.Sprintf("bench-thin%d", id)
	tbl := dm.Table{dm.ThinParams{PoolDev: p.name, ID: id}.Target(uint64(size) / dm.SectorSize)}
	if _, err := p.eng.Create(p.ctx, name, dm.CreateOptions{Table: tbl}); err != nil {
		return nil, fmt.Errorf("activate thin %d: %w", id, err)
	}
	bd, err := p.eng.Open(p.ctx, name)
	if err != nil {
		return nil, fmt.Errorf("open thin %d: %w", id, err)
	}
	return &thinDev{BlockDevice: bd, p: p, id: id, name: name}, nil
}

// snapshot takes an (inactive) snapshot of t with the origin suspended,
// as the kernel requires for a consistent snapshot of an active origin.
func (t *thinDev) snapshot() (uint32, error) {
	p := t.p
	id := p.next
	p.next++
	if err := p.eng.Suspend(p.ctx, t.name, dm.SuspendOptions{}); err != nil {
		return 0, err
	}
	err := p.msg(dm.CreateSnapMsg(id, t.id))
	if rerr := p.eng.Resume(p.ctx, t.name); err == nil {
		err = rerr
	}
	return id, err
}

func (t *thinDev) dropCache() error {
	if err := t.Flush(); err != nil {
		return err
	}
	for _, path := range t.p.files {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// Close closes, deactivates and deletes the thin device.
func (t *thinDev) Close() error {
	err := t.BlockDevice.Close()
	if rerr := t.p.eng.Remove(t.p.ctx, t.name, dm.RemoveOptions{Retries: 10, RetryDelay: 10 * time.Millisecond}); err == nil {
		err = rerr
	}
	if derr := t.p.msg(dm.DeleteMsg(t.id)); err == nil {
		err = derr
	}
	return err
}

func (p *pool) deleteID(id uint32) error { return p.msg(dm.DeleteMsg(id)) }

func (p *pool) close() error {
	err := p.eng.Remove(p.ctx, p.name, dm.RemoveOptions{Retries: 10, RetryDelay: 10 * time.Millisecond})
	if cerr := p.eng.Close(); err == nil {
		err = cerr
	}
	return err
}

// fsMagicTmpfs is statfs's f_type for tmpfs.
const fsMagicTmpfs = 0x01021994

// checkNotTmpfs refuses a bench directory in memory: both sides must pay
// for the same disk.
func checkNotTmpfs(dir string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "", err
	}
	if st.Type == fsMagicTmpfs {
		return "", fmt.Errorf("%s is on tmpfs: the bench must run on a disk (use -dir)", dir)
	}
	names := map[int64]string{0xef53: "ext4", 0x58465342: "xfs", 0x9123683e: "btrfs", 0x794c7630: "overlayfs"}
	if n, ok := names[int64(st.Type)]; ok {
		return n, nil
	}
	return fmt.Sprintf("0x%x", st.Type), nil
}
