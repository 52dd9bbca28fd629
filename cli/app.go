package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/thinraft/thinraft/cluster/client"
	ucli "github.com/urfave/cli/v3"
)

// Env is what the commands need from the process: streams, environment,
// and how to reach the cluster. Tests fill it with buffers and a fake API.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Terminal: stdout and stdin are a terminal (a spinner may be drawn
	// and prompts read).
	Terminal bool
	// Connect builds the API from a client configuration (default:
	// client.New).
	Connect func(client.Config) (API, error)
	// Commands are extra top-level commands (package main's agent and
	// version); ClusterCommands join `thinraft cluster` (init).
	Commands        []*ucli.Command
	ClusterCommands []*ucli.Command
	// Version is printed by --version.
	Version string
	// preset is an API to use instead of reading the configuration
	// (tests).
	preset API
}

// OSEnv is the process's own environment.
func OSEnv() *Env {
	return &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		Terminal: isTerminal(os.Stdout) && isTerminal(os.Stdin)}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// app is one run of the command line: the environment and the API,
// connected on first use.
type app struct {
	env *Env
	api API
	// in reads prompt answers (made on first prompt).
	in *bufio.Reader
}

// flagClusterConfig is the root option naming client.json.
const flagClusterConfig = "cluster-config"

// Root builds the command tree.
func Root(env *Env) *ucli.Command {
	a := &app{env: env, api: env.preset}
	cluster := &ucli.Command{Name: "cluster", Usage: "cluster-wide commands",
		Commands: append(append([]*ucli.Command{}, env.ClusterCommands...), a.clusterStatusCmd()),
		Action:   needSub}
	cmds := append([]*ucli.Command{}, env.Commands...)
	cmds = append(cmds, cluster, a.nodeCmd(),
		a.vgcreateCmd(), a.vgsCmd(), a.vgremoveCmd(), a.vgdisplayCmd(), a.pvsCmd(),
		a.lvcreateCmd(), a.lvsCmd(), a.lvdisplayCmd(), a.lvremoveCmd(),
		a.lvextendCmd(), a.lvreduceCmd(), a.lvresizeCmd(), a.lvrenameCmd(), a.lvchangeCmd(), a.lvconvertCmd(),
		a.vgcfgbackupCmd(), a.nbdCmd(), DriverCommand())
	root := &ucli.Command{
		Name:            "thinraft",
		Usage:           "LVM-thin-like volume management over a Raft cluster",
		Version:         env.Version,
		HideVersion:     env.Version == "",
		Commands:        cmds,
		HideHelpCommand: true,
		// -o name,size is one field list for cli/report, not two values.
		DisableSliceFlagSeparator: true,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: flagClusterConfig, Usage: "client configuration (default $" + EnvConfig + ", then ~/.config/thinraft/client.json)"},
		},
		Reader: env.Stdin, Writer: env.Stdout, ErrWriter: env.Stderr,
		// Errors are returned to Run, which prints one line and picks
		// the exit code; urfave must not exit on its own.
		ExitErrHandler: func(context.Context, *ucli.Command, error) {},
		OnUsageError: func(_ context.Context, _ *ucli.Command, err error, _ bool) error {
			return usagef("%v; run with --help for usage", err)
		},
		CommandNotFound: func(_ context.Context, _ *ucli.Command, name string) {},
	}
	setUsageErrors(root)
	return root
}

// setUsageErrors makes every command's flag errors exit 3, and keeps
// commas in list values (urfave's per-command setting).
func setUsageErrors(c *ucli.Command) {
	for _, s := range c.Commands {
		s.DisableSliceFlagSeparator = true
		if s.OnUsageError == nil {
			s.OnUsageError = func(_ context.Context, cmd *ucli.Command, err error, _ bool) error {
				return usagef("%s: %v; run `thinraft %s --help` for usage", cmd.Name, err, cmd.FullName()[len("thinraft "):])
			}
		}
		setUsageErrors(s)
	}
}

// Run runs one command line (argv[0] is the program) and returns the exit
// code, having printed any error as one line on stderr.
func Run(ctx context.Context, env *Env, argv []string) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	root := Root(env)
	if len(argv) < 2 {
		_ = ucli.ShowRootCommandHelp(root)
		return ExitInvalid
	}
	if root.Command(argv[1]) == nil && !strings.HasPrefix(argv[1], "-") {
		fmt.Fprintf(env.Stderr, "  No such command '%s'.  Try 'thinraft --help'.\n", argv[1])
		return ExitInvalid
	}
	err := root.Run(ctx, NormalizeArgs(root, argv))
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if err.Error() == "" {
		return ExitCode(err)
	}
	if errors.As(err, &ee) && ee.Plain {
		fmt.Fprintln(env.Stderr, oneLine(err.Error()))
	} else {
		fmt.Fprintln(env.Stderr, "  "+oneLine(err.Error()))
	}
	return ExitCode(err)
}

// needSub is the action of a command that only groups subcommands.
func needSub(_ context.Context, cmd *ucli.Command) error {
	var names []string
	for _, c := range cmd.Commands {
		names = append(names, c.Name)
	}
	if cmd.Args().Len() > 0 {
		return usagef("thinraft %s: unknown subcommand %q; use one of: %s", cmd.Name, cmd.Args().First(), strings.Join(names, ", "))
	}
	return usagef("thinraft %s needs a subcommand: %s", cmd.Name, strings.Join(names, ", "))
}

// client connects on first use.
func (a *app) client(cmd *ucli.Command) (API, error) {
	if a.api != nil {
		return a.api, nil
	}
	path, err := configPath(cmd.String(flagClusterConfig), a.env.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := LoadClientConfig(path)
	if err != nil {
		return nil, err
	}
	connect := a.env.Connect
	if connect == nil {
		connect = func(c client.Config) (API, error) { return client.New(c) }
	}
	cl, err := connect(cfg)
	if err != nil {
		return nil, failf("connect: %v", err)
	}
	a.api = cl
	return cl, nil
}

// opWait bounds how long a command waits for the kernel work it started
// (create, snapshot, delete, revert) before it reports it as still running.
// The write itself asks the server to hold its answer for quickWait: most
// operations finish within it and show nothing; a longer one is waited
// for with a spinner on a terminal (wait.go).
const (
	opWait    = 60 * time.Second
	quickWait = 2 * time.Second
)

func (a *app) out() io.Writer { return a.env.Stdout }

func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.env.Stdout, format, args...) }

// noteErr prints an error as one of several on stderr (nothing for an
// error already reported).
func (a *app) noteErr(err error) {
	if msg := oneLine(err.Error()); msg != "" {
		a.note("%s", msg)
	}
}

// note prints LVM's indented informational line on stderr (warnings and
// notes, as LVM does).
func (a *app) note(format string, args ...any) {
	fmt.Fprintf(a.env.Stderr, "  "+format+"\n", args...)
}
