package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/thinraft/thinraft/cluster/agent"
	"github.com/thinraft/thinraft/dm"
	"github.com/thinraft/thinraft/dm/emu"
	"github.com/thinraft/thinraft/dm/kernel"
	"github.com/thinraft/thinraft/metadata"
	"github.com/thinraft/thinraft/thinpool"
)

// This file is how TestClusterKernelScenario reaches a pool's devices from
// outside the agents, as an operator with dmsetup and the thin tools
// would: thin devices for IO, the pool's status line, and the metadata
// once the pool is down.
//
// On the kernel the pool's dm devices are the kernel's, shared by every
// process: the test activates a thin device next to the running agent. On
// the userspace engine they live inside the owning node's process, so the
// node is stopped (SIGTERM) while the test opens an engine of its own on
// the node's files, and started again afterwards.

const (
	engineKernel = "kernel"
	engineEmu    = "emu"
)

func (c *procCluster) dataDir(id string) string { return filepath.Join(c.dir, id, "data") }

// poolFiles are pool's metadata and data files on its node.
func (c *procCluster) poolFiles(p metadata.Pool) (meta, data string) {
	return agent.FileStorage{Dir: c.dataDir(p.Node)}.Paths(p.UUID)
}

func poolDMName(p metadata.Pool) string { return thinpool.DMPrefix + p.UUID }

func thinDMName(p metadata.Pool, id uint32) string {
	return poolDMName(p) + "-" + strconv.FormatUint(uint64(id), 10)
}

// devAccess is an open session on one pool's devices.
type devAccess struct {
	t      *testing.T
	c      *procCluster
	engine string
	pool   metadata.Pool
	ctl    dm.Control
	eng    *emu.Engine // emu: the engine the test opened while the node is stopped
	made   []string    // thin devices this session activated, removed by end
	open   []dm.BlockDevice
}

// beginDevices opens a session on pool's devices (on emu: stops its node
// and activates the pool in an engine of the test's own).
func beginDevices(ctx context.Context, t *testing.T, c *procCluster, engine string, p metadata.Pool) *devAccess {
	t.Helper()
	d := &devAccess{t: t, c: c, engine: engine, pool: p}
	if engine == engineKernel {
		ctl, err := kernel.Open()
		if err != nil {
			t.Fatalf("device-mapper: %v", err)
		}
		d.ctl = ctl
		return d
	}
	c.stop(p.Node)
	eng, err := emu.New(emu.Options{Dir: filepath.Join(c.dataDir(p.Node), "emu")})
	if err != nil {
		t.Fatalf("emu engine on %s's files: %v", p.Node, err)
	}
	d.eng, d.ctl = eng, eng
	meta, data := c.poolFiles(p)
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	chunk := uint64(p.ChunkSectors)
	blocks := uint64(fi.Size()) / (chunk * dm.SectorSize)
	table := dm.Table{dm.ThinPoolParams{MetadataDev: meta, DataDev: data, DataBlockSectors: chunk, LowWaterMark: 1}.Target(blocks * chunk)}
	if _, err := eng.Create(ctx, poolDMName(p), dm.CreateOptions{Table: table}); err != nil {
		t.Fatalf("activate pool %s in the test's engine: %v", p.UUID, err)
	}
	return d
}

// thin opens vol's thin device for IO, activating it unless it is active
// (the agent suspends an active origin around a snapshot: the kernel
// variant keeps its device active through one).
func (d *devAccess) thin(ctx context.Context, vol metadata.Volume) dm.BlockDevice {
	d.t.Helper()
	if vol.ThinID == 0 || vol.State != metadata.VolumeActive {
		d.t.Fatalf("volume %s: state %s thin %d: not active", vol.Name, vol.State, vol.ThinID)
	}
	name := thinDMName(d.pool, vol.ThinID)
	if _, err := d.ctl.Info(ctx, name); errors.Is(err, dm.ErrDeviceNotFound) {
		table := dm.Table{dm.ThinParams{PoolDev: "/dev/mapper/" + poolDMName(d.pool), ID: vol.ThinID}.Target(vol.SizeBytes / dm.SectorSize)}
		if _, err := d.ctl.Create(ctx, name, dm.CreateOptions{Table: table}); err != nil {
			d.t.Fatalf("activate %s (thin %d): %v", vol.Name, vol.ThinID, err)
		}
		d.made = append(d.made, name)
	} else if err != nil {
		d.t.Fatalf("info %s: %v", name, err)
	}
	dev, err := d.ctl.Open(ctx, name)
	if err != nil {
		d.t.Fatalf("open %s: %v", name, err)
	}
	d.open = append(d.open, dev)
	return dev
}

// end closes and deactivates what the session opened (on emu: closes the
// engine and starts the node again).
func (d *devAccess) end(ctx context.Context) {
	d.t.Helper()
	for _, dev := range d.open {
		if err := dev.Close(); err != nil {
			d.t.Errorf("close: %v", err)
		}
	}
	for _, name := range slices.Backward(d.made) {
		if err := d.ctl.Remove(ctx, name, dm.RemoveOptions{Retries: 10}); err != nil {
			d.t.Errorf("deactivate %s: %v", name, err)
		}
	}
	if d.eng != nil {
		if err := d.eng.Close(); err != nil {
			d.t.Errorf("close the test's engine: %v", err)
		}
		d.c.start(d.pool.Node)
		return
	}
	if err := d.ctl.(*kernel.Control).Close(); err != nil {
		d.t.Errorf("close device-mapper control: %v", err)
	}
}

// pattern is size bytes that differ with seed and offset.
func pattern(seed byte, off int64, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		x := uint64(off) + uint64(i)
		b[i] = byte(x*2654435761>>13) ^ seed ^ byte(x>>9)
	}
	return b
}

// writeCheck writes pattern(seed) at each offset, flushes, and reads it
// back.
func writeCheck(t *testing.T, dev dm.BlockDevice, what string, seed byte, size int, offs ...int64) {
	t.Helper()
	for _, off := range offs {
		if _, err := dev.WriteAt(pattern(seed, off, size), off); err != nil {
			t.Fatalf("%s: write %d bytes at %d: %v", what, size, off, err)
		}
	}
	if err := dev.Flush(); err != nil {
		t.Fatalf("%s: flush: %v", what, err)
	}
	readCheck(t, dev, what, seed, size, offs...)
}

// readCheck reads size bytes at each offset and wants pattern(seed).
func readCheck(t *testing.T, dev dm.BlockDevice, what string, seed byte, size int, offs ...int64) {
	t.Helper()
	got := make([]byte, size)
	for _, off := range offs {
		if _, err := dev.ReadAt(got, off); err != nil {
			t.Fatalf("%s: read %d bytes at %d: %v", what, size, off, err)
		}
		if want := pattern(seed, off, size); !bytes.Equal(got, want) {
			i := 0
			for i < size && got[i] == want[i] {
				i++
			}
			t.Fatalf("%s: at %d: byte %d is %#x, want %#x (pattern %#x)", what, off, i, got[i], want[i], seed)
		}
	}
}

// kernelPoolStatus is the pool's status line on the kernel, read by the
// test's own control (the dmsetup status of the runbook).
func kernelPoolStatus(ctx context.Context, t *testing.T, p metadata.Pool) (dm.PoolStatus, dm.DeviceInfo) {
	t.Helper()
	ctl, err := kernel.Open()
	if err != nil {
		t.Fatalf("device-mapper: %v", err)
	}
	defer ctl.Close()
	info, err := ctl.Info(ctx, poolDMName(p))
	if err != nil {
		t.Fatalf("pool %s device: %v", p.Name, err)
	}
	st, err := ctl.Status(ctx, poolDMName(p), dm.StatusOptions{})
	if err != nil || len(st) != 1 || st[0].Type != dm.TargetThinPool {
		t.Fatalf("pool %s status: %v %+v", p.Name, err, st)
	}
	ps, err := dm.ParsePoolStatus(st[0].Params)
	if err != nil {
		t.Fatalf("pool %s status %q: %v", p.Name, st[0].Params, err)
	}
	return ps, info
}

// poolTxn is the kernel pool's transaction id from its status line.
func poolTxn(ctx context.Context, t *testing.T, ctl *kernel.Control, p metadata.Pool) uint64 {
	t.Helper()
	st, err := ctl.Status(ctx, poolDMName(p), dm.StatusOptions{NoFlush: true})
	if err != nil || len(st) != 1 || st[0].Type != dm.TargetThinPool {
		t.Fatalf("pool %s status: %v %+v", p.Name, err, st)
	}
	ps, err := dm.ParsePoolStatus(st[0].Params)
	if err != nil {
		t.Fatalf("pool %s status %q: %v", p.Name, st[0].Params, err)
	}
	return ps.TransactionID
}

// settledMetadata reads pool's metadata once every node is stopped. On the
// kernel it tears the pool down as docs/repair.md says (thin devices, then
// the pool), runs thin_check, which must be clean, and thin_dump on the
// metadata device, and unbinds the loop devices. The tools read the loop
// device rather than the file: they open with O_DIRECT, which the guest's
// tmpfs refuses. On emu it reads the engine's metadata file.
func settledMetadata(ctx context.Context, t *testing.T, c *procCluster, engine string, p metadata.Pool) *dm.MetadataDump {
	t.Helper()
	if engine == engineEmu {
		meta, _ := c.poolFiles(p)
		d, err := emu.DumpMetadata(meta, false)
		if err != nil {
			t.Fatalf("pool %s: dump %s: %v", p.Name, meta, err)
		}
		return d
	}
	if err := deactivateKernelPool(ctx, p); err != nil {
		t.Fatalf("pool %s: %v", p.Name, err)
	}
	ls := agent.NewLoopStorage(c.dataDir(p.Node), 0)
	metaDevs, _, err := ls.Bindings(p.UUID)
	if err != nil || len(metaDevs) != 1 {
		t.Fatalf("pool %s: metadata loop devices %v (%v), want one", p.Name, metaDevs, err)
	}
	meta := metaDevs[0]
	if out, err := exec.CommandContext(ctx, thinTool(t, "thin_check"), meta).CombinedOutput(); err != nil {
		t.Fatalf("pool %s: thin_check %s: %v\n%s", p.Name, meta, err, out)
	}
	out, err := exec.CommandContext(ctx, thinTool(t, "thin_dump"), meta).Output()
	if err != nil {
		t.Fatalf("pool %s: thin_dump %s: %v", p.Name, meta, err)
	}
	d, err := dm.ReadThinXML(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("pool %s: thin_dump output: %v", p.Name, err)
	}
	if err := ls.Release(p.UUID); err != nil {
		t.Fatalf("pool %s: %v", p.Name, err)
	}
	return d
}

// teardownKernelPool removes pool's dm devices and unbinds its loop
// devices. Removing what is already gone is not an error, so it also
// serves as the cleanup of a failed run.
func teardownKernelPool(ctx context.Context, c *procCluster, p metadata.Pool) error {
	if err := deactivateKernelPool(ctx, p); err != nil {
		return err
	}
	return agent.NewLoopStorage(c.dataDir(p.Node), 0).Release(p.UUID)
}

// deactivateKernelPool removes pool's thin devices, then the pool device.
func deactivateKernelPool(ctx context.Context, p metadata.Pool) error {
	ctl, err := kernel.Open()
	if err != nil {
		return err
	}
	defer ctl.Close()
	devs, err := ctl.List(ctx)
	if err != nil {
		return err
	}
	for _, d := range devs {
		if strings.HasPrefix(d.Name, poolDMName(p)+"-") {
			if err := ctl.Remove(ctx, d.Name, dm.RemoveOptions{Retries: 10}); err != nil {
				return fmt.Errorf("deactivate %s: %w", d.Name, err)
			}
		}
	}
	if err := ctl.Remove(ctx, poolDMName(p), dm.RemoveOptions{Retries: 10}); err != nil && !errors.Is(err, dm.ErrDeviceNotFound) {
		return fmt.Errorf("deactivate the pool: %w", err)
	}
	return nil
}

func thinTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	t.Fatalf("%s not found: apt-get install -y thin-provisioning-tools", name)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// requireKernel fails unless this process can drive device-mapper and loop
// devices, and brings the loopback interface up: the vmtest guest boots
// with lo down, and the agents talk over 127.0.0.1.
func requireKernel(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("-cluster.engine=kernel needs root with device-mapper (run it in the VM: make vmtest-cluster)")
	}
	ctl, err := kernel.Open()
	if err != nil {
		t.Fatalf("-cluster.engine=kernel: %v (run it in the VM: make vmtest-cluster)", err)
	}
	_ = ctl.Close()
	if err := loopbackUp(); err != nil {
		t.Fatalf("bring up lo: %v", err)
	}
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	return nil
}
