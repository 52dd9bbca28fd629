package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// checkError is a step whose result was not the expected one.
type checkError struct {
	what, want, got string
}

func (e *checkError) Error() string {
	return fmt.Sprintf("%s: expected %s, got %s", e.what, e.want, e.got)
}

func mismatch(what string, want, got any) error {
	return &checkError{what: what, want: fmt.Sprint(want), got: fmt.Sprint(got)}
}

// pollEvery is how often a bounded wait asks again.
const pollEvery = 100 * time.Millisecond

// waitFor calls try until it returns nil or the time runs out; the error
// then names what was awaited and the last failure. Waits are on state the
// cluster converges to (a new leader, a fresh usage report), never a sleep
// standing in for one.
func waitFor(ctx context.Context, limit time.Duration, what string, try func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var last error
	for {
		if last = try(ctx); last == nil {
			return nil
		}
		var ce *checkError
		if !errors.As(last, &ce) && ctx.Err() == nil {
			// A command that could not run at all is not worth retrying
			// unless the deadline is what stopped it.
			return fmt.Errorf("waiting for %s: %w", what, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: not within %v: %w", what, limit, last)
		case <-tick.C:
		}
	}
}
