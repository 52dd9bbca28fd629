package nbd

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/thinraft/thinraft/dm"
)

// ErrExportClosed is what attaching to an export that Stop or Close ended
// returns; the handshake answers it as an unknown export.
var ErrExportClosed = errors.New("nbd: export closed")

// Export is one volume a Server serves. Its serving state (the range lock
// shared by its connections, the connections themselves) lives here, so an
// export may be added to and removed from a running server's Source.
// Use it by pointer; never copy it.
type Export struct {
	// Name is the export's name. NewServer also serves it under the empty
	// (default) name; a Source decides for itself.
	Name        string
	Description string
	// Device is the volume. The Server does IO on it; Close closes it.
	Device dm.BlockDevice
	// Alloc answers BLOCK_STATUS (nil: everything is reported as data).
	Alloc Allocation
	// BlockSize is the pool's data block size in bytes: a discard unmaps
	// the whole blocks of this size inside it.
	BlockSize int64
	// DiscardUnmaps says the device unmaps whole blocks on discard and
	// reads them back as zeros (a thin volume in a pool whose discards are
	// not ignored). It enables TRIM and lets WRITE_ZEROES unmap blocks.
	DiscardUnmaps bool
	ReadOnly      bool
	// OnClients, if set, is called after the number of connections in
	// transmission on this export changed (Clients tells the new number).
	// Calls may overlap and arrive late: read Clients, do not count calls.
	// It must not block.
	OnClients func()

	mu     sync.Mutex
	vol    *volume
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// check tells whether the export can be served.
func (e *Export) check() error {
	if e == nil || e.Device == nil {
		return errors.New("nbd: export has no device")
	}
	if !validString(e.Name) || len(e.Name) > maxStringLen || len(e.Description) > maxStringLen {
		return fmt.Errorf("nbd: export name %q is not a valid NBD string", e.Name)
	}
	if e.Device.Size()%sector != 0 {
		return fmt.Errorf("nbd: export %q: device size %d is not a multiple of %d", e.Name, e.Device.Size(), sector)
	}
	return nil
}

// volume returns the export's IO state, made on first use.
func (e *Export) volume() *volume {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.vol == nil {
		e.vol = newVolume(e)
	}
	return e.vol
}

// attach counts c as a client of the export; it fails once the export is
// stopping.
func (e *Export) attach(c *conn) error {
	if err := e.check(); err != nil {
		return err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return fmt.Errorf("export %q: %w", e.Name, ErrExportClosed)
	}
	if e.vol == nil {
		e.vol = newVolume(e)
	}
	if e.conns == nil {
		e.conns = make(map[*conn]struct{})
	}
	e.conns[c] = struct{}{}
	e.wg.Add(1)
	e.mu.Unlock()
	e.changed()
	return nil
}

// detach is attach undone, after the connection's last reply and flush.
func (e *Export) detach(c *conn) {
	e.mu.Lock()
	_, ok := e.conns[c]
	delete(e.conns, c)
	e.mu.Unlock()
	if ok {
		e.wg.Done()
		e.changed()
	}
}

func (e *Export) changed() {
	if e.OnClients != nil {
		e.OnClients()
	}
}

// Clients is the number of connections in transmission on the export.
func (e *Export) Clients() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns)
}

// Stop ends the export: new clients are refused (as an unknown export) and
// every connection stops reading requests, finishes and answers those it
// has, flushes the device and closes, as Server.Shutdown does for a whole
// server. When ctx ends first the remaining connections are closed hard
// and ctx's error returned. The device stays open.
func (e *Export) Stop(ctx context.Context) error {
	e.stop(false)
	wait := make(chan struct{})
	go func() { e.wg.Wait(); close(wait) }()
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		e.stop(true)
		<-wait
		return ctx.Err()
	}
}

func (e *Export) stop(hard bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for c := range e.conns {
		c.stop(hard)
	}
}

// Close ends the export's connections at once (when a server still serves
// it) and closes its device.
func (e *Export) Close() error {
	e.stop(true)
	e.wg.Wait()
	if err := e.Device.Close(); err != nil {
		return fmt.Errorf("nbd export %q: close device: %w", e.Name, err)
	}
	return nil
}
