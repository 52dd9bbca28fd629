package thinpool

import (
	"errors"
	"testing"
)

// TestPipelinedBatchesRecover: the kernel states a pipelining agent can
// leave behind — batch k+1 executed from the kernel's T+k while batch k's
// completion is still being proposed — are rolled forward by Open's
// reconcile with proof: kernel txn = record txn + the intents at the head of
// the queue, and their effects visible in the metadata. The batches mix
// creates, a snapshot of a thin the first batch created and a delete of one
// it created, so the proof covers every op across a batch boundary.
func TestPipelinedBatchesRecover(t *testing.T) {
	cases := []struct {
		name string
		// recorded is how many of the two completions reach the record
		// before the crash (in order: completion 2 never precedes 1).
		recorded int
	}{
		{"two-batches-executed-neither-recorded", 0},
		{"completion-1-recorded-before-completion-2", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newBatchFixture(t)
			first := []Intent{f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 1, SizeSectors: 2048}),
				f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 2, SizeSectors: 2048}),
				f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 3, SizeSectors: 2048})}
			second := []Intent{f.rec.enqueue(Intent{Op: OpSnapshot, ThinID: 4, Origin: 1, SizeSectors: 2048}),
				f.rec.enqueue(Intent{Op: OpDelete, ThinID: 2})}
			later := f.rec.enqueue(Intent{Op: OpCreateThin, ThinID: 5, SizeSectors: 2048}) // queued, never executed

			f.rec.setLose(tc.recorded < 1)
			done, err := f.p.ExecuteBatch(f.ctx, first)
			if tc.recorded < 1 && !errors.Is(err, errCompletionLost) || tc.recorded >= 1 && (err != nil || done != 3) {
				t.Fatalf("first batch: done %d, %v", done, err)
			}
			f.rec.setLose(true)
			if _, err := f.p.ExecuteBatch(f.ctx, second); !errors.Is(err, errCompletionLost) {
				t.Fatalf("second batch: %v, want its completion lost", err)
			}
			if txn, _ := f.kernel(); txn != 5 || len(f.rec.pending()) != 6-3*tc.recorded {
				t.Fatalf("before the crash: kernel txn %d, %d pending; want 5 and %d", txn, len(f.rec.pending()), 6-3*tc.recorded)
			}
			f.rec.setLose(false)
			f.restart()
			rep := f.p.LastReconcile()
			if len(rep.Findings) != 0 {
				t.Fatalf("reconcile quarantined: %+v", rep.Findings)
			}
			if rest := f.rec.pending(); len(rest) != 1 || rest[0].ID != later.ID {
				t.Fatalf("after reconcile the queue is %+v; want only the never-executed intent", rest)
			}
			f.agree(5, 1, 3, 4)
			if done, err := f.p.ExecuteBatch(f.ctx, f.rec.pending()); err != nil || done != 1 {
				t.Fatalf("the rest of the queue: done %d, %v", done, err)
			}
			f.agree(6, 1, 3, 4, 5)
		})
	}
}
