package conformance

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/dm"
)

// The script language (full reference: docs/conformance.md).
//
//	# comment                       blank lines and # lines are ignored
//	case NAME                       a case; subtest TestConformance/FILE/NAME
//	CMD ARGS... [=> OUTCOME]        OUTCOME: ok, an errno name (EEXIST), a dm
//	                                sentinel (ErrUnaligned), ETIMEDOUT for waits
//
// Sizes: a bare number is sectors; suffixes b s k M G are bytes, sectors,
// KiB, MiB, GiB. Data: pattern=NAME (bytes from the name and the offset
// modulo 64 KiB) or zero. Assertions: KEY OP VALUE with OP = != < <= > >=;
// VALUE a number, prev, prev+N, prev-N or another field of the same line.
//
//	backing NAME SIZE | grow-backing NAME SIZE | fill-backing NAME OFF LEN DATA
//	pool NAME [meta=] [data=] [chunk=] [lwm=] [len=] [FEATURE...]
//	thin NAME POOL ID SIZE [ro]
//	create NAME [ro] [LEN TYPE PARAMS...]     ($backing, @device in PARAMS)
//	load|reload NAME LEN TYPE PARAMS... | clear NAME
//	resize-pool NAME [data=] [meta=] [len=] | resize-thin NAME SIZE
//	suspend NAME [noflush] | resume NAME | remove NAME | open NAME | close NAME
//	msg NAME [TEXT...]
//	status NAME KEY=V...   pool: txn meta_used meta_total data_used data_total
//	                       free_data meta_lwm held mode discard nospace needs_check
//	                       thin: mapped highest
//	table NAME [inactive] KEY=V...  (type len targets chunk lwm features id)
//	info NAME KEY=V...              (suspended live inactive ro open targets)
//	list has=A,B lacks=C | size NAME SIZE
//	write|read NAME OFF LEN DATA | discard NAME OFF LEN | flush NAME
//	repeat V=A..B CMD... | until V=A..B CMD... => ERR
//	bg JOB IO-CMD... | join JOB [within=DUR] | pending JOB
//	eventually within=DUR ASSERTION...
//	event-mark NAME | wait-event NAME [within=DUR]
//	no-space-timeout DUR | sleep DUR

// Options tune a run.
type Options struct {
	// CmdTimeout bounds one command (a hung IO or ioctl fails the case
	// instead of the whole test binary). Default 60s.
	CmdTimeout time.Duration
	// Prefix is prepended to every device name of the case, before the
	// per-case sequence number. Default "cf".
	Prefix string
}

// Run runs one case against env in t. The case's devices get the unique
// name prefix prefix; everything the case created is torn down, and the
// metadata of every pool it activated checked, even when a command fails.
func Run(t *testing.T, env Env, c *Case, prefix string, opts Options) {
	if opts.CmdTimeout == 0 {
		opts.CmdTimeout = 60 * time.Second
	}
	r := &runner{
		t: t, env: env, ctl: env.Control(), prefix: prefix, opts: opts,
		backings:  map[string]Backing{},
		poolMeta:  map[string]string{},
		metaUsed:  map[string]bool{},
		tables:    map[string]dm.Target{},
		prevPool:  map[string]dm.PoolStatus{},
		prevThin:  map[string]dm.ThinStatus{},
		eventMark: map[string]uint32{},
		open:      map[string]dm.BlockDevice{},
		jobs:      map[string]*job{},
		patterns:  map[string]bool{},
	}
	defer r.teardown()
	for _, cmd := range c.Cmds {
		if err := r.runGuarded(cmd); err != nil {
			t.Fatalf("%s: %s\n\t%v", cmd.Pos(), cmd.Raw, err)
		}
	}
}

// runner holds one case's state. Only the case's goroutine touches it,
// except bg jobs, which use nothing but ctl and their own device handle.
type runner struct {
	t      *testing.T
	env    Env
	ctl    dm.Control
	prefix string
	opts   Options

	backings map[string]Backing
	devices  []string // script names, in creation order, deduplicated
	// poolMeta maps a pool's script name to its metadata backing; metaUsed
	// marks metadata backings that were live under a pool (checked at the end).
	poolMeta map[string]string
	metaUsed map[string]bool
	// tables remembers the table each pool and thin device was created
	// with, so that resize-pool and resize-thin reload it with a new length.
	tables    map[string]dm.Target
	prevPool  map[string]dm.PoolStatus
	prevThin  map[string]dm.ThinStatus
	eventMark map[string]uint32
	open      map[string]dm.BlockDevice
	jobs      map[string]*job
	// mu guards patterns, which background jobs write too.
	mu       sync.Mutex
	patterns map[string]bool
	vars     map[string]string
}

type job struct {
	cmd  Cmd
	done chan struct{}
	err  error
}

// dmName maps a script device name to the case's real device name.
func (r *runner) dmName(name string) string { return r.prefix + name }

func (r *runner) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.opts.CmdTimeout)
}

func (r *runner) addDevice(name string) {
	for _, d := range r.devices {
		if d == name {
			return
		}
	}
	r.devices = append(r.devices, name)
}

// runGuarded runs a command with a watchdog so that a hung call fails
// the case with its position instead of hanging the test binary.
func (r *runner) runGuarded(c Cmd) error {
	done := make(chan error, 1)
	go func() { done <- r.exec(c) }()
	timeout := r.opts.CmdTimeout + 5*time.Second
	if c.Verb == "until" || c.Verb == "repeat" {
		timeout = 20 * r.opts.CmdTimeout
	}
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("command still running after %v (hung?)", timeout)
	}
}

// opError marks the error of the operation under test, to be compared
// with the line's expected outcome. Any other error a handler returns is
// an assertion failure.
type opError struct{ err error }

func (e *opError) Error() string { return e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

func op(err error) error {
	if err == nil {
		return nil
	}
	return &opError{err}
}

// exec runs one command and checks its outcome against c.Expect.
func (r *runner) exec(c Cmd) error {
	c = r.substitute(c)
	spec := commands[c.Verb]
	return outcome(c, spec, spec.run(r, c))
}

// outcome compares a handler's result with the line's expected outcome.
func outcome(c Cmd, spec cmdSpec, err error) error {
	var oe *opError
	if errors.As(err, &oe) {
		if c.Expect == "" || c.Expect == "ok" {
			return fmt.Errorf("failed: %v (errno %s)", oe.err, errnoOf(oe.err))
		}
		if !matchExpect(c.Expect, oe.err) {
			return fmt.Errorf("want %s, got %v (errno %s)", c.Expect, oe.err, errnoOf(oe.err))
		}
		return nil
	}
	if err != nil {
		return err
	}
	if c.Expect != "" && c.Expect != "ok" && !spec.expectHandled {
		return fmt.Errorf("succeeded, want %s", c.Expect)
	}
	return nil
}

func errnoOf(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "ETIMEDOUT"
	}
	no := dm.Errno(err)
	if no == 0 {
		return "none"
	}
	return dm.ErrnoName(no)
}

var sentinels = map[string]error{
	"ErrDeviceNotFound": dm.ErrDeviceNotFound, "ErrDeviceExists": dm.ErrDeviceExists,
	"ErrDeviceBusy": dm.ErrDeviceBusy, "ErrNoTable": dm.ErrNoTable,
	"ErrInvalidTable": dm.ErrInvalidTable, "ErrPoolTooSmall": dm.ErrPoolTooSmall,
	"ErrThinIDExists": dm.ErrThinIDExists, "ErrThinIDNotFound": dm.ErrThinIDNotFound,
	"ErrThinIDActive": dm.ErrThinIDActive, "ErrTransactionMismatch": dm.ErrTransactionMismatch,
	"ErrMetadataSnapHeld": dm.ErrMetadataSnapHeld, "ErrNoMetadataSnap": dm.ErrNoMetadataSnap,
	"ErrBadMessage": dm.ErrBadMessage, "ErrPoolReadOnly": dm.ErrPoolReadOnly,
	"ErrNoSpace": dm.ErrNoSpace, "ErrIO": dm.ErrIO, "ErrUnaligned": dm.ErrUnaligned,
}

func validExpect(exp string) error {
	if exp == "ok" || exp == "ETIMEDOUT" {
		return nil
	}
	if _, ok := dm.ErrnoByName(exp); ok {
		return nil
	}
	if _, ok := sentinels[exp]; ok {
		return nil
	}
	return fmt.Errorf("unknown outcome %q: want ok, an errno name (EEXIST) or a dm sentinel (ErrUnaligned)", exp)
}

func matchExpect(exp string, err error) bool {
	if exp == "ETIMEDOUT" && errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if s, ok := sentinels[exp]; ok {
		return errors.Is(err, s)
	}
	no, _ := dm.ErrnoByName(exp)
	return dm.Errno(err) == no
}

// substitute replaces {var} in arguments with loop variables.
func (r *runner) substitute(c Cmd) Cmd {
	if len(r.vars) == 0 {
		return c
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		for k, v := range r.vars {
			a = strings.ReplaceAll(a, "{"+k+"}", v)
		}
		args[i] = a
	}
	c.Args = args
	return c
}

// teardown removes every device the case created, checks the metadata of
// every pool it activated and closes the env. Failures here fail the case:
// a leaked device would poison the cases after it.
func (r *runner) teardown() {
	t := r.t
	for _, j := range r.jobs {
		select {
		case <-j.done:
		case <-time.After(r.opts.CmdTimeout):
			t.Errorf("teardown: background job %q still running", j.cmd.Raw)
		}
	}
	for name, bd := range r.open {
		if err := bd.Close(); err != nil {
			t.Errorf("teardown: close %s: %v", name, err)
		}
		delete(r.open, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*r.opts.CmdTimeout)
	defer cancel()
	// Resume what a case left suspended, pools before their thins, so
	// that removal never waits on a suspended pool.
	for _, name := range r.devices {
		info, err := r.ctl.Info(ctx, r.dmName(name))
		if err == nil && info.Suspended {
			_ = r.ctl.Resume(ctx, r.dmName(name))
		}
	}
	for i := len(r.devices) - 1; i >= 0; i-- {
		name := r.dmName(r.devices[i])
		if _, err := r.ctl.Info(ctx, name); errors.Is(err, dm.ErrDeviceNotFound) {
			continue
		}
		if err := r.ctl.Remove(ctx, name, dm.RemoveOptions{Retries: 20, RetryDelay: 100 * time.Millisecond}); err != nil {
			t.Errorf("teardown: remove %s: %v", name, err)
		}
	}
	if list, err := r.ctl.List(ctx); err != nil {
		t.Errorf("teardown: list: %v", err)
	} else {
		for _, d := range list {
			if strings.HasPrefix(d.Name, r.prefix) {
				t.Errorf("teardown: device %s still exists", d.Name)
			}
		}
	}
	var metas []string
	for m := range r.metaUsed {
		metas = append(metas, m)
	}
	sort.Strings(metas)
	for _, m := range metas {
		if err := r.env.CheckMetadata(ctx, r.backings[m]); err != nil {
			t.Errorf("metadata check of %s: %v", m, err)
		}
	}
	if err := r.env.Close(); err != nil {
		t.Errorf("teardown: env close: %v", err)
	}
}
