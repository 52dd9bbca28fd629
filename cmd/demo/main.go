package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Exit statuses: 0 every step ran and every check held; 1 a step or a
// check failed (or cleanup found something left running); 2 bad flags;
// 130 interrupted (SIGINT, SIGTERM, SIGHUP, or stdout closed), after the
// same cleanup.
const (
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// options are the demo's flags.
type options struct {
	goTool   string
	thinraft string
	keep     bool
	timeout  time.Duration
}

func main() {
	os.Exit(mainStatus(os.Args[1:], os.Stdout, os.Stderr))
}

func mainStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	goDefault := os.Getenv("GO")
	if goDefault == "" {
		goDefault = "go"
	}
	fs.StringVar(&o.goTool, "go", goDefault, "the go command that builds thinraft (default $GO, else go)")
	fs.StringVar(&o.thinraft, "thinraft", "", "use this thinraft binary instead of building one")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs, data) after a successful run")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up (and clean up) after this long")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected argument %q; run `go run ./cmd/demo -h` for the flags\n", fs.Arg(0))
		return exitUsage
	}
	if o.timeout <= 0 {
		fmt.Fprintf(stderr, "demo: -timeout %v: want a positive duration such as 3m\n", o.timeout)
		return exitUsage
	}

	// SIGHUP (terminal gone) would otherwise end the demo without its
	// cleanup. SIGPIPE is ignored rather than caught: Go hands a caught
	// SIGPIPE over for a write to any broken pipe or socket, and the demo's
	// own API client writes to the socket of the leader it kills, which
	// read as an interrupt. A closed stdout (`make demo | head`) shows as
	// a write error instead, and ends the demo the same way.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, closed := context.WithCancel(ctx)
	defer closed()
	err := run(ctx, o, pipeGuard{w: stdout, broken: closed})
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "demo: interrupted; every process it started is stopped\n")
		return exitInterrupted
	default:
		fmt.Fprintf(stderr, "demo: FAILED: %v\n", err)
		return exitFailed
	}
}

// run is the whole demo: set up, walk, and clean up on every path. The
// error is the first failure; cleanup failures are joined to it.
func run(ctx context.Context, o options, out io.Writer) (err error) {
	start := time.Now()
	interrupted := ctx.Done()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	tmp, err := os.MkdirTemp("", "thinraft-demo-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	d := &demo{out: out, tmp: tmp, opts: o}
	defer func() {
		cerr := d.cleanup()
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
		stopped := false
		select {
		case <-interrupted:
			stopped = true
		default:
		}
		switch {
		case o.keep:
			fmt.Fprintf(out, "kept %s\n", tmp)
		case err != nil && !stopped:
			d.showLogs()
			fmt.Fprintf(out, "\nkept %s for a look (configs, node logs nI.log, data)\n", tmp)
		default:
			// Passed, or the user stopped it: nothing worth keeping.
			if rerr := os.RemoveAll(tmp); rerr != nil {
				err = errors.Join(err, fmt.Errorf("remove %s: %w", tmp, rerr))
			}
		}
		if err == nil {
			fmt.Fprintf(out, "\ndemo passed: %d steps, %d checks, all held; %d nodes started and stopped cleanly, nothing left running; %.1fs\n",
				d.steps, d.checks, nodes, time.Since(start).Seconds())
		}
	}()
	if err := d.walk(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("not done within -timeout %v: %w", o.timeout, err)
		}
		return err
	}
	return nil
}

// pipeGuard is the demo's output: a write that finds the reader gone
// (EPIPE) ends the demo as an interrupt does.
type pipeGuard struct {
	w      io.Writer
	broken func()
}

func (g pipeGuard) Write(p []byte) (int, error) {
	n, err := g.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		g.broken()
	}
	return n, err
}
