package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/thinraft/thinraft/cli"
	ucli "github.com/urfave/cli/v3"
)

const version = "0.1.0-dev"

// errUsage marks a usage error of this package's own commands (agent,
// cluster init): exit 2, as before the LVM-like commands arrived.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, cli.OSEnv(), os.Args)
	stop()
	os.Exit(code)
}

// run runs one command line and returns the exit code.
func run(ctx context.Context, env *cli.Env, argv []string) int {
	if len(argv) == 2 && argv[1] == "--version" {
		fmt.Fprintln(env.Stdout, "thinraft", version)
		return 0
	}
	env.Commands = []*ucli.Command{
		{Name: "version", Usage: "print the version", Action: func(context.Context, *ucli.Command) error {
			fmt.Fprintln(env.Stdout, "thinraft", version)
			return nil
		}},
		raw("agent", "run a node: thinraft agent --config FILE", runAgent),
	}
	env.ClusterCommands = []*ucli.Command{
		raw("init", "write a loopback cluster: thinraft cluster init --nodes N --dir DIR [--base-port P] [--host H] [--engine emu|kernel]", runClusterInit),
	}
	return cli.Run(ctx, env, argv)
}

// raw wraps one of this package's commands, which parse their own flags
// (Go's flag package): urfave passes the words through untouched, and the
// error keeps today's form ("thinraft: ...", exit 2 on usage, else 1).
func raw(name, usage string, f func(context.Context, []string) error) *ucli.Command {
	return &ucli.Command{
		Name: name, Usage: usage, SkipFlagParsing: true, HideHelp: true,
		Action: func(ctx context.Context, cmd *ucli.Command) error {
			err := f(ctx, cmd.Args().Slice())
			if err == nil {
				return nil
			}
			code := 1
			if errors.Is(err, errUsage) {
				code = 2
			}
			return &cli.ExitError{Code: code, Err: fmt.Errorf("thinraft: %w", err), Plain: true}
		},
	}
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
