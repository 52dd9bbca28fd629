package metadata

import (
	"sync"

	"github.com/hashicorp/raft"
)

// Options configure an FSM. Every replica of a cluster must use the same
// values: they influence the replicated state.
type Options struct {
	// IntentHistory is how many finished intents are kept (default
	// DefaultIntentHistory).
	IntentHistory int
}

// FSM is the Raft state machine of the metadata model. Raft applies
// committed entries from one goroutine (Apply/ApplyBatch); readers use the
// read methods (store.go), which take a read lock for the duration of one
// read only.
type FSM struct {
	opts Options

	mu sync.RWMutex
	st *state
	// changed is closed and replaced after every applied batch, waking
	// Watch callers.
	changed chan struct{}
	// waiters wait for single intents (waiters.go).
	waiters waiters
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// New returns an empty FSM.
func New(opts Options) *FSM {
	if opts.IntentHistory <= 0 {
		opts.IntentHistory = DefaultIntentHistory
	}
	return &FSM{opts: opts, st: newState(opts.IntentHistory), changed: make(chan struct{})}
}

// Apply applies one committed log entry and returns its *Result, Results
// for a packed entry (pack.go), or nil for entries that are not commands.
func (f *FSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in order under one lock
// acquisition; Raft hands over up to MaxAppendEntries at once, so a burst
// of commands costs one lock and one wake-up of watchers.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	f.mu.Lock()
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			// Configuration changes reach the FSM too; they are Raft's own
			// business and only move the applied index.
			f.st.index = l.Index
			continue
		}
		out[i] = f.st.applyEntry(l.Index, l.Data)
	}
	wake := f.notifyLocked()
	f.mu.Unlock()
	wake()
	return out
}

// notifyLocked is called with the write lock held after the state changed
// (an applied batch, a Restore): it replaces the Watch channel and takes
// the intent waiters whose intent finished. The returned function closes
// their channels; call it after unlocking.
func (f *FSM) notifyLocked() func() {
	ch := f.changed
	f.changed = make(chan struct{})
	ready := f.waiters.takeFinishedLocked(f.st)
	return func() {
		close(ch)
		closeAll(ready)
	}
}

// ApplyCommand applies data as if Raft had committed it at index: for
// tests, benchmarks and tools that replay a log without a Raft node.
func (f *FSM) ApplyCommand(index uint64, data []byte) *Result {
	r := f.ApplyBatch([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: data}})[0]
	return r.(*Result)
}

// Watch returns a channel that is closed after the next applied change
// (and after a Restore). Agents loop: read what they need, then wait on
// the channel they took before reading, so no change is missed.
func (f *FSM) Watch() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

// AppliedIndex is the Raft index of the last applied entry.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.index
}
