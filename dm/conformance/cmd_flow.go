package conformance

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Flow commands: loops, background IO, events, timing and module
// parameters.

// loopRange parses "VAR=A..B".
func loopRange(arg string) (name string, from, to uint64, err error) {
	name, rng, ok := strings.Cut(arg, "=")
	a, b, ok2 := strings.Cut(rng, "..")
	if !ok || !ok2 || name == "" {
		return "", 0, 0, fmt.Errorf("want VAR=FROM..TO, got %q", arg)
	}
	if from, err = strconv.ParseUint(a, 10, 64); err == nil {
		to, err = strconv.ParseUint(b, 10, 64)
	}
	if err != nil || to < from {
		return "", 0, 0, fmt.Errorf("bad range %q", rng)
	}
	return name, from, to, nil
}

// inner builds the command a loop or job runs: the rest of the line, with
// the line's outcome (for repeat and bg) attached.
func inner(c Cmd, args []string, withExpect bool) (Cmd, error) {
	raw := strings.Join(args, " ")
	if withExpect && c.Expect != "" {
		raw += " => " + c.Expect
	}
	return parseCmd(c.File, c.Line, raw)
}

func checkLoop(c Cmd) error {
	if _, _, _, err := loopRange(c.Args[0]); err != nil {
		return err
	}
	in, err := inner(c, c.Args[1:], c.Verb == "repeat")
	if err != nil {
		return err
	}
	if in.Verb == "repeat" || in.Verb == "until" || in.Verb == "bg" {
		return fmt.Errorf("loops do not nest")
	}
	if c.Verb == "until" && (c.Expect == "" || c.Expect == "ok") {
		return fmt.Errorf("until needs the error that ends it after =>")
	}
	return nil
}

// repeat VAR=A..B CMD... [=> X]: CMD with {VAR} = A..B, each meeting X.
func cmdRepeat(r *runner, c Cmd) error {
	v, from, to, _ := loopRange(c.Args[0])
	in, err := inner(c, c.Args[1:], true)
	if err != nil {
		return err
	}
	return r.loop(v, from, to, func(i uint64) (bool, error) {
		if err := r.exec(in); err != nil {
			return false, fmt.Errorf("%s=%d: %w", v, i, err)
		}
		return true, nil
	})
}

// until VAR=A..B CMD... => ERR: CMD with {VAR} = A, A+1, ... until it
// fails; the failure must be ERR and at least one iteration must succeed.
// Afterwards {VAR} holds the value that failed.
func cmdUntil(r *runner, c Cmd) error {
	v, from, to, _ := loopRange(c.Args[0])
	in, err := inner(c, c.Args[1:], false)
	if err != nil {
		return err
	}
	spec := commands[in.Verb]
	ended := false
	err = r.loop(v, from, to, func(i uint64) (bool, error) {
		err := spec.run(r, r.substitute(in))
		var oe *opError
		if errors.As(err, &oe) {
			if i == from {
				return false, fmt.Errorf("first iteration %s=%d already failed: %v", v, i, oe.err)
			}
			if !matchExpect(c.Expect, oe.err) {
				return false, fmt.Errorf("%s=%d: want %s, got %v (errno %s)", v, i, c.Expect, oe.err, errnoOf(oe.err))
			}
			ended = true
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("%s=%d: %w", v, i, err)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if !ended {
		return fmt.Errorf("%s reached %d without failing with %s", v, to, c.Expect)
	}
	return nil
}

// loop runs body for i in [from, to] with {v} set, stopping when body
// returns false. {v} keeps its last value afterwards.
func (r *runner) loop(v string, from, to uint64, body func(uint64) (bool, error)) error {
	if r.vars == nil {
		r.vars = map[string]string{}
	}
	for i := from; i <= to; i++ {
		r.vars[v] = strconv.FormatUint(i, 10)
		more, err := body(i)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func checkBg(c Cmd) error {
	in, err := inner(c, c.Args[1:], true)
	if err != nil {
		return err
	}
	switch in.Verb {
	case "write", "read", "discard", "flush":
		return nil
	}
	return fmt.Errorf("bg runs only write, read, discard or flush, not %s", in.Verb)
}

// bg JOB CMD... [=> X]: run an IO command in the background (it may block,
// e.g. on a full pool in queue mode); join collects its outcome.
func cmdBg(r *runner, c Cmd) error {
	name := c.Args[0]
	if _, dup := r.jobs[name]; dup {
		return fmt.Errorf("job %s exists already", name)
	}
	in, err := inner(c, c.Args[1:], true)
	if err != nil {
		return err
	}
	in = r.substitute(in)
	j := &job{cmd: in, done: make(chan struct{})}
	r.jobs[name] = j
	go func() {
		defer close(j.done)
		var err error
		switch in.Verb {
		case "write":
			err = r.write(in, true)
		case "read":
			err = r.read(in, true)
		case "discard":
			err = r.discard(in, true)
		case "flush":
			err = r.flush(in, true)
		}
		j.err = outcome(in, commands[in.Verb], err)
	}()
	return nil
}

// join JOB [within=DUR]: wait for a background job; its outcome is this
// line's outcome.
func cmdJoin(r *runner, c Cmd) error {
	j, ok := r.jobs[c.Args[0]]
	if !ok {
		return fmt.Errorf("no job %s", c.Args[0])
	}
	d := r.opts.CmdTimeout
	if len(c.Args) == 2 {
		d, _ = durationArg(c.Args[1], "within")
	}
	select {
	case <-j.done:
		if j.err != nil {
			return fmt.Errorf("job %q: %w", j.cmd.Raw, j.err)
		}
		return nil
	case <-time.After(d):
		return fmt.Errorf("job %q still running after %v", j.cmd.Raw, d)
	}
}

// pending JOB: the job has not finished (its IO is queued).
func cmdPending(r *runner, c Cmd) error {
	j, ok := r.jobs[c.Args[0]]
	if !ok {
		return fmt.Errorf("no job %s", c.Args[0])
	}
	select {
	case <-j.done:
		return fmt.Errorf("job %q finished (outcome: %v), want it still pending", j.cmd.Raw, j.err)
	default:
		return nil
	}
}

func durationArg(arg, key string) (time.Duration, error) {
	v, ok := strings.CutPrefix(arg, key+"=")
	if !ok {
		return 0, fmt.Errorf("want %s=DURATION, got %q", key, arg)
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q", v)
	}
	return d, nil
}

func checkDurationArg(i int, key string) func(Cmd) error {
	return func(c Cmd) error {
		if len(c.Args) <= i {
			return nil
		}
		if key == "" {
			d, err := time.ParseDuration(c.Args[i])
			if err != nil || d < 0 {
				return fmt.Errorf("bad duration %q", c.Args[i])
			}
			return nil
		}
		_, err := durationArg(c.Args[i], key)
		return err
	}
}

// sleep DUR
func cmdSleep(r *runner, c Cmd) error {
	d, _ := time.ParseDuration(c.Args[0])
	time.Sleep(d)
	return nil
}

// event-mark NAME: remember the device's event counter.
func cmdEventMark(r *runner, c Cmd) error {
	ctx, cancel := r.ctx()
	defer cancel()
	info, err := r.ctl.Info(ctx, r.dmName(c.Args[0]))
	if err != nil {
		return op(err)
	}
	r.eventMark[c.Args[0]] = info.EventNr
	return nil
}

// wait-event NAME [within=DUR]: wait until the event counter moves past the
// mark (=> ETIMEDOUT when it does not within DUR, default 10s). The mark
// moves to the new counter.
func cmdWaitEvent(r *runner, c Cmd) error {
	name := c.Args[0]
	mark, ok := r.eventMark[name]
	if !ok {
		return fmt.Errorf("no event-mark for %s", name)
	}
	d := 10 * time.Second
	if len(c.Args) == 2 {
		d, _ = durationArg(c.Args[1], "within")
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	n, err := r.ctl.WaitEvent(ctx, r.dmName(name), mark)
	if err != nil {
		return op(err)
	}
	if n == mark {
		return fmt.Errorf("WaitEvent returned the mark %d itself", n)
	}
	r.eventMark[name] = n
	return nil
}

// no-space-timeout DUR: the pool module's queue-mode timeout.
func cmdNoSpaceTimeout(r *runner, c Cmd) error {
	d, _ := time.ParseDuration(c.Args[0])
	return r.env.SetNoSpaceTimeout(d)
}

func checkEventually(c Cmd) error {
	if _, err := durationArg(c.Args[0], "within"); err != nil {
		return err
	}
	in, err := inner(c, c.Args[1:], true)
	if err != nil {
		return err
	}
	switch in.Verb {
	case "status", "info", "table", "list", "read", "size":
		return nil
	}
	return fmt.Errorf("eventually retries only assertions (status info table list read size), not %s", in.Verb)
}

// eventually within=DUR ASSERTION...: retry an assertion until it holds,
// for states reached asynchronously (a background write reaching a full
// pool), instead of sleeping for a guessed time.
func cmdEventually(r *runner, c Cmd) error {
	d, _ := durationArg(c.Args[0], "within")
	in, err := inner(c, c.Args[1:], true)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(d)
	for {
		err := r.exec(in)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not true within %v: %w", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
