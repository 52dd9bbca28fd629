package metadata

import (
	"fmt"
	"sync"
	"testing"
)

// TestReadersDuringApply: views, listings, snapshots and watchers run
// while commands are applied (meaningful under -race); every view is
// internally consistent.
func TestReadersDuringApply(t *testing.T) {
	h := newHarness(t)
	pool := h.basic()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ch := h.f.Watch()
				h.f.Read(func(v View) {
					vols, _ := v.ListVolumes("vg0", "", 50)
					for _, vol := range vols {
						if got, ok := v.Volume(vol.UUID); !ok || got.Name != vol.Name {
							errs <- fmt.Errorf("view inconsistent at index %d: %s", v.Index(), vol.UUID)
							return
						}
					}
					q := v.PendingIntents(pool)
					for i, in := range q {
						if p, _ := v.Pool(pool); in.FromTxn != p.TxnID+uint64(i) {
							errs <- fmt.Errorf("queue inconsistent at index %d", v.Index())
							return
						}
					}
				})
				_ = h.f.snapshot()
				select {
				case <-ch:
				case <-stop:
					return
				}
			}
		}()
	}
	for i := range 800 {
		h.ok(CmdVolumeCreate, VolumeCreate{UUID: h.uuid(), VG: "vg0", Name: fmt.Sprintf("v%d", i), Pool: pool, SizeBytes: 1 << 20})
		if i%7 == 6 {
			h.completeAll(pool)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
