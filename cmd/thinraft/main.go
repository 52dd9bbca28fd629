package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const version = "0.1.0-dev"

// errUsage marks a usage error (exit 2).
var errUsage = errors.New("usage")

// command is one subcommand: its words and its runner.
type command struct {
	words []string
	usage string
	run   func(ctx context.Context, args []string) error
}

// commandTable lists the subcommands (a function, not a package variable:
// no package-level mutable state).
func commandTable() []command {
	return []command{
		{[]string{"version"}, "thinraft version", runVersion},
		{[]string{"agent"}, "thinraft agent --config FILE", runAgent},
		{[]string{"cluster", "init"}, "thinraft cluster init --nodes N --dir DIR [--base-port P] [--host H]", runClusterInit},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := dispatch(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "thinraft: "+oneLine(err.Error()))
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, args []string) error {
	if len(args) == 1 && args[0] == "--version" {
		return runVersion(ctx, nil)
	}
	for _, c := range commandTable() {
		if len(args) >= len(c.words) && equal(args[:len(c.words)], c.words) {
			return c.run(ctx, args[len(c.words):])
		}
	}
	var us []string
	for _, c := range commandTable() {
		us = append(us, c.usage)
	}
	return fmt.Errorf("%w: unknown command %q; commands: %s (the LVM-like commands arrive with the CLI issue)",
		errUsage, strings.Join(args, " "), strings.Join(us, "; "))
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func runVersion(context.Context, []string) error {
	fmt.Println("thinraft", version)
	return nil
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(discard{})
	return fs
}

// parse parses args and turns flag errors into usage errors.
func parse(fs *flag.FlagSet, usage string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v; %s", errUsage, err, usage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected %q; %s", errUsage, fs.Arg(0), usage)
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
