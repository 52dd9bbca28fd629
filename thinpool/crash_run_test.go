package thinpool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/dmtest"
)

// crashRun is one process's view of a crash case: the pool, its open
// volumes and the expected (acknowledged) content of every volume.
type crashRun struct {
	ctx  context.Context
	env  *dmtest.Env
	rig  *poolRig
	pool *Pool
	dir  string
	want map[uint32]volumeImage
	open map[uint32]dm.BlockDevice
}

func (c *crashRun) imageDir() string { return filepath.Join(c.dir, "acked") }

func (c *crashRun) imagePath(id uint32) string {
	return filepath.Join(c.imageDir(), fmt.Sprintf("%d.img", id))
}

// loadWant reads the acknowledged images.
func (c *crashRun) loadWant() error {
	c.want = map[uint32]volumeImage{}
	ents, err := os.ReadDir(c.imageDir())
	if err != nil {
		return err
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".img")
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			return fmt.Errorf("acked image %s: %w", e.Name(), err)
		}
		img, err := loadImage(filepath.Join(c.imageDir(), e.Name()))
		if err != nil {
			return err
		}
		c.want[uint32(id)] = img
	}
	return nil
}

func (c *crashRun) copyOf(id uint32) volumeImage { return append(volumeImage(nil), c.want[id]...) }

func (c *crashRun) mustRecord(t *testing.T) PoolState {
	t.Helper()
	rec, err := c.rig.record()
	if err != nil {
		t.Fatal(err)
	}
	st, err := rec.Load(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// createWritten creates thin id, writes two blocks with seed and flushes:
// an acknowledged volume.
func (c *crashRun) createWritten(id, seed uint32) error {
	if err := c.pool.CreateThin(c.ctx, id, crashVolSects); err != nil {
		return err
	}
	c.want[id] = make(volumeImage, crashVolBytes)
	if err := c.save(id); err != nil {
		return err
	}
	if err := c.write(id, seed, 0, crashBlock); err != nil {
		return err
	}
	if err := c.write(id, seed, 10*crashBlock, crashBlock+4096); err != nil {
		return err
	}
	return c.flush(id)
}

// snapshot snapshots origin as id (acknowledged with the origin's image).
func (c *crashRun) snapshot(id, origin uint32) error {
	if err := c.pool.Snapshot(c.ctx, id, origin); err != nil {
		return err
	}
	c.want[id] = c.copyOf(origin)
	return c.save(id)
}

func (c *crashRun) dev(id uint32) (dm.BlockDevice, error) {
	if d := c.open[id]; d != nil {
		return d, nil
	}
	d, err := c.pool.OpenThin(c.ctx, id)
	if err != nil {
		return nil, err
	}
	c.open[id] = d
	return d, nil
}

func (c *crashRun) write(id, seed uint32, off, n int64) error {
	d, err := c.dev(id)
	if err != nil {
		return err
	}
	img, ok := c.want[id]
	if !ok {
		return fmt.Errorf("write to thin %d, which has no acknowledged image", id)
	}
	return writeVolume(d, img, seed, off, n)
}

// flush makes thin id's writes durable and then acknowledges them.
func (c *crashRun) flush(id uint32) error {
	d, err := c.dev(id)
	if err != nil {
		return err
	}
	if err := d.Flush(); err != nil {
		return fmt.Errorf("flush thin %d: %w", id, err)
	}
	return c.save(id)
}

func (c *crashRun) save(id uint32) error { return saveImage(c.imagePath(id), c.want[id]) }

func (c *crashRun) close(id uint32) error {
	d := c.open[id]
	if d == nil {
		return nil
	}
	delete(c.open, id)
	return d.Close()
}

func (c *crashRun) closeAll() error {
	var errs []error
	for id := range c.open {
		errs = append(errs, c.close(id))
	}
	return errors.Join(errs...)
}

func (c *crashRun) deactivate(id uint32) error {
	if err := c.close(id); err != nil {
		return err
	}
	return c.pool.DeactivateThin(c.ctx, id)
}

// autoextend runs the pool's autoextend and requires it to grow what.
func (c *crashRun) autoextend(what string) error {
	grew, err := c.pool.Autoextend(c.ctx)
	if err != nil {
		return err
	}
	for _, g := range grew {
		if g == what {
			return nil
		}
	}
	return fmt.Errorf("autoextend grew %v, not %s", grew, what)
}

// checkGrown: b's file grew past its first size and the pool sees all of it.
func (c *crashRun) checkGrown(b dmtest.Backing, initial int64) error {
	fi, err := os.Stat(b.Path)
	if err != nil {
		return err
	}
	if fi.Size() <= initial {
		return fmt.Errorf("%s: %d bytes, not grown past %d", b.Name, fi.Size(), initial)
	}
	ps, err := c.pool.Status(c.ctx)
	if err != nil {
		return err
	}
	if b == c.rig.Data {
		if want := uint64(fi.Size() / crashBlock); ps.TotalDataBlocks != want {
			return fmt.Errorf("pool has %d data blocks, its grown data device %d", ps.TotalDataBlocks, want)
		}
		return nil
	}
	if want := uint64(min(fi.Size(), maxMetadataBytes) / metaBlockSize); ps.TotalMetaBlocks != want {
		return fmt.Errorf("pool has %d metadata blocks, its grown metadata device %d", ps.TotalMetaBlocks, want)
	}
	return nil
}
