package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// linRecorder collects the history of all workers. Times are nanoseconds
// since start on the monotonic clock.
type linRecorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (r *linRecorder) now() int64 { return int64(time.Since(r.start)) }

func (r *linRecorder) add(clientID int, call int64, in linInput, out linOutput) {
	ret := r.now()
	if out.Outcome == linUnknown {
		// May take effect at any time after the call, or never.
		ret = math.MaxInt64
	}
	r.mu.Lock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: clientID, Input: in, Call: call, Output: out, Return: ret})
	r.mu.Unlock()
}

func (r *linRecorder) history() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...)
}

// linName is the volume name of a family's slot.
func linName(f, slot int) string {
	if slot == 0 {
		return fmt.Sprintf("f%02d", f)
	}
	return fmt.Sprintf("f%02d-s%d", f, slot)
}

func linUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// linClassify turns a client error into an output: an API error code is a
// definite answer unless it says the outcome is unknown; anything else
// (a timeout, a dropped connection) may or may not have been applied.
func linClassify(err error) linOutput {
	if err == nil {
		return linOutput{Outcome: linOK}
	}
	var ae *client.Error
	if errors.As(err, &ae) && ae.Code != api.CodeOutcomeUnknown && ae.Code != api.CodeTimeout {
		return linOutput{Outcome: linErr, Code: ae.Code}
	}
	return linOutput{Outcome: linUnknown}
}

// linRandomInput draws one call; creates target origins (slot 0) and
// snapshots the other slots, so a family's names collide among clients.
func linRandomInput(rng *mrand.Rand, families int) linInput {
	const M = 1 << 20
	f := rng.IntN(families)
	slot := rng.IntN(1 + linSnapsPerFamily)
	p := rng.IntN(100)
	switch {
	case p < 30:
		return linInput{Kind: linRead, Family: f, Slot: slot}
	case p < 50:
		return linInput{Kind: linCreate, Family: f, Slot: 0, UUID: linUUID(), Size: uint64(4+4*rng.IntN(3)) * M}
	case p < 65:
		return linInput{Kind: linSnapshot, Family: f, Slot: 1 + rng.IntN(linSnapsPerFamily), UUID: linUUID()}
	case p < 80:
		return linInput{Kind: linExtend, Family: f, Slot: slot, Size: uint64(8*(1+rng.IntN(8))) * M}
	default:
		return linInput{Kind: linDelete, Family: f, Slot: slot}
	}
}

// linDo performs one call through the client and returns its output.
func linDo(ctx context.Context, cl *client.Client, vg, pool string, in linInput) linOutput {
	name := linName(in.Family, in.Slot)
	switch in.Kind {
	case linCreate:
		_, err := cl.CreateVolume(ctx, vg, api.VolumeCreateRequest{UUID: in.UUID, Name: name, Pool: pool, SizeBytes: in.Size})
		return linClassify(err)
	case linSnapshot:
		_, err := cl.CreateSnapshot(ctx, vg, linName(in.Family, 0), api.SnapshotCreateRequest{UUID: in.UUID, Name: name})
		return linClassify(err)
	case linExtend:
		size := in.Size
		_, err := cl.PatchVolume(ctx, vg, name, api.VolumePatchRequest{SizeBytes: &size})
		return linClassify(err)
	case linDelete:
		_, err := cl.DeleteVolume(ctx, vg, name)
		return linClassify(err)
	}
	v, err := cl.Volume(ctx, vg, name)
	out := linClassify(err)
	if err == nil {
		out.Found, out.UUID, out.Size, out.Origin = true, v.UUID, v.SizeBytes, v.Origin
		out.Deleting = v.State == metadata.VolumeDeleting
	}
	return out
}
