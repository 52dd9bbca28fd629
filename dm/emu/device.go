package emu

import (
	"sync"
	"sync/atomic"

	"github.com/thinraft/thinraft/dm"
)

// gate holds IO while a device (or pool) is suspended and lets suspend
// wait for IO in flight, as dm core does around presuspend/postsuspend.
// The IO side is two atomic operations when the gate is open.
type gate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	closed   atomic.Bool
	dead     atomic.Bool
	inflight atomic.Int64
}

func newGate() *gate {
	g := &gate{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// enter blocks while the gate is closed; it fails once the gate is dead
// (device removed or engine crashed).
func (g *gate) enter() bool {
	for {
		g.inflight.Add(1)
		if !g.closed.Load() {
			return true
		}
		g.leave()
		g.mu.Lock()
		for g.closed.Load() && !g.dead.Load() {
			g.cond.Wait()
		}
		g.mu.Unlock()
		if g.dead.Load() {
			return false
		}
	}
}

func (g *gate) leave() {
	if g.inflight.Add(-1) == 0 && g.closed.Load() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	}
}

// close stops new IO; with drain it waits for IO in flight to finish.
func (g *gate) close(drain bool) {
	g.mu.Lock()
	g.closed.Store(true)
	for drain && g.inflight.Load() > 0 && !g.dead.Load() {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

func (g *gate) open() {
	g.mu.Lock()
	g.closed.Store(false)
	g.cond.Broadcast()
	g.mu.Unlock()
}

func (g *gate) kill() {
	g.mu.Lock()
	g.dead.Store(true)
	g.closed.Store(true)
	g.cond.Broadcast()
	g.mu.Unlock()
}

// target is one constructed target of a table (the kernel's dm_target with
// its type's methods). Offsets and lengths are in bytes relative to the
// target's start.
type target interface {
	kind() string
	// params is the STATUSTYPE_TABLE text.
	params() string
	status(noFlush, suspended bool) string
	readAt(p []byte, off int64) error
	writeAt(p []byte, off int64) error
	discard(off, length int64) error
	flush() error
	presuspend(noFlush bool)
	postsuspend(noFlush bool)
	preresume() error
	resume()
	// message handles a target message (only the pool has any).
	message(msg string) (string, error)
	destroy()
}

// tableInst is a constructed table.
type tableInst struct {
	spec    dm.Table
	targets []tableTarget
	deps    []*device // devices this table holds open
}

type tableTarget struct {
	start, length uint64 // sectors
	t             target
}

// device is one device-mapper device of the engine.
type device struct {
	name      string
	uuid      string
	minor     uint32
	readOnly  bool
	live      *tableInst
	inactive  *tableInst
	suspended bool
	opens     int32 // BlockDevice handles and tables that reference it
	// size is the live table's length in bytes, kept with live (under
	// the engine's lock) for the IO path, which reads it without.
	size    atomic.Int64
	gate    *gate
	removed bool

	evMu    sync.Mutex
	eventNr uint32
	evCh    chan struct{}
}

func newDevice(name, uuid string, minor uint32, ro bool) *device {
	d := &device{name: name, uuid: uuid, minor: minor, readOnly: ro, gate: newGate(), evCh: make(chan struct{})}
	// A device without a live table behaves as suspended for IO.
	d.gate.close(false)
	return d
}

// event raises the device's event counter (dm_table_event).
func (d *device) event() {
	d.evMu.Lock()
	d.eventNr++
	close(d.evCh)
	d.evCh = make(chan struct{})
	d.evMu.Unlock()
}

func (d *device) events() (uint32, chan struct{}) {
	d.evMu.Lock()
	defer d.evMu.Unlock()
	return d.eventNr, d.evCh
}

func (t *tableInst) destroy() {
	if t == nil {
		return
	}
	for _, tt := range t.targets {
		tt.t.destroy()
	}
	for _, d := range t.deps {
		d.opens--
	}
	t.deps = nil
}

// find returns the target covering sector s.
func (t *tableInst) find(s uint64) (tableTarget, bool) {
	for _, tt := range t.targets {
		if s >= tt.start && s < tt.start+tt.length {
			return tt, true
		}
	}
	return tableTarget{}, false
}

func (t *tableInst) size() uint64 {
	if t == nil {
		return 0
	}
	return t.spec.Size()
}
