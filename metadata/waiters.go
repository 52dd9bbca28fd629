package metadata

import "sync"

// Intent waiters let a caller (the API's ?wait) sleep until one intent
// finishes instead of waking on every applied batch: at 1,000 operations a
// second with tens of callers waiting, a wake-up per batch per waiter is
// tens of thousands of wake-ups and lock acquisitions a second, nearly all
// of them for nothing. Waiters are local to one replica and never part of
// the replicated state; they only observe it.
//
// Locking: a waiter registers under the FSM's read lock, after checking
// the intent is still pending, and applies scan the waiters under the
// write lock, so no finish falls between the check and the registration.
// The channels are closed after the FSM's lock is released.

// waiters maps an intent id to the channels of its waiters.
type waiters struct {
	mu sync.Mutex
	m  map[string][]chan struct{}
}

// closedChan returns a closed channel, for intents that are not
// pending when asked about.
func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// WaitIntent returns a channel that is closed once intent id is no longer
// pending: done, abandoned, dropped from the history, unknown, or gone in a
// Restore. Call cancel when giving up before that, so the waiter does not
// stay registered (it is safe to call after the channel closed, and more
// than once).
func (f *FSM) WaitIntent(id string) (done <-chan struct{}, cancel func()) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if in := f.st.intents[id]; in == nil || in.State != IntentPending {
		return closedChan(), func() {}
	}
	ch := make(chan struct{})
	w := &f.waiters
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string][]chan struct{}{}
	}
	w.m[id] = append(w.m[id], ch)
	w.mu.Unlock()
	return ch, func() { w.remove(id, ch) }
}

func (w *waiters) remove(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	chs := w.m[id]
	for i, c := range chs {
		if c == ch {
			chs = append(chs[:i], chs[i+1:]...)
			break
		}
	}
	if len(chs) == 0 {
		delete(w.m, id)
	} else {
		w.m[id] = chs
	}
}

// takeFinishedLocked removes and returns the channels of waiters whose
// intent is no longer pending in st. The caller holds the FSM's write lock
// and closes the channels after releasing it. The cost is one lookup per
// waited intent per applied batch, far below waking every waiter.
func (w *waiters) takeFinishedLocked(st *state) []chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []chan struct{}
	for id, chs := range w.m {
		if in := st.intents[id]; in == nil || in.State != IntentPending {
			out = append(out, chs...)
			delete(w.m, id)
		}
	}
	return out
}

// count is how many waiters are registered (tests).
func (w *waiters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, chs := range w.m {
		n += len(chs)
	}
	return n
}

func closeAll(chs []chan struct{}) {
	for _, ch := range chs {
		close(ch)
	}
}
