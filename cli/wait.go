package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
)

// finish waits for the operation a write started. The write itself already
// waited (?wait); an operation still pending after that is waited for with
// a spinner on a terminal and silently otherwise, up to opWait more. An
// abandoned operation is the command's failure, with the agent's reason.
func (a *app) finish(ctx context.Context, cl API, what string, r *api.VolumeResponse) error {
	op := r.Operation
	if op == nil || op.State == api.OpDone {
		return nil
	}
	if op.State == api.OpAbandoned {
		return failf("%s failed: %s", what, oneLine(op.Reason))
	}
	ctx, cancel := context.WithTimeout(ctx, opWait)
	defer cancel()
	stop := a.spinner(what)
	_, err := cl.WaitOperation(ctx, op.ID)
	stop()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrAbandoned):
		return failf("%s failed: %s", what, oneLine(stripAPI(err)))
	case errors.Is(err, context.DeadlineExceeded):
		return failf("%s is still running on the pool's node (operation %s); check with `thinraft lvs` and wait for it", what, op.ID)
	}
	return apiErr(what, err)
}

func stripAPI(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Message
	}
	return err.Error()
}

// spinner draws a spinner on stderr while a long wait runs, only on a
// terminal; it returns the function that stops and erases it.
func (a *app) spinner(what string) func() {
	if !a.env.Terminal {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		frames := `|/-\`
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				fmt.Fprint(a.env.Stderr, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(a.env.Stderr, "\r  %c %s", frames[i%len(frames)], what)
			}
		}
	}()
	return func() { close(done); <-stopped }
}
