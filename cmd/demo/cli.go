package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// cmdTimeout bounds one CLI command. Creates wait for their operation
// (the API's ?wait), and during the leader kill a command rides out an
// election; nothing the demo runs should come near this.
const cmdTimeout = 60 * time.Second

// shell runs the real thinraft binary the way a user types it and shows
// what it ran.
type shell struct {
	bin string
	// env is the CLI's environment: THINRAFT_CONFIG names the cluster.
	env []string
	out io.Writer
	// track learns every command's process group, for the final check
	// that nothing the demo started is left (nil: not tracked).
	track func(pgid int)
}

// result is one finished command.
type result struct {
	line   string
	stdout string
	stderr string
	code   int
}

func (r *result) combined() string { return r.stdout + r.stderr }

func (s *shell) command(ctx context.Context, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// An interrupted demo takes the command's whole group with it.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// exec runs `thinraft args...` and returns its output and exit status.
// Only a failure to run it at all is an error.
func (s *shell) exec(ctx context.Context, args ...string) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	var so, se bytes.Buffer
	cmd := s.command(ctx, args)
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Start()
	if err == nil {
		if s.track != nil {
			s.track(cmd.Process.Pid)
		}
		err = cmd.Wait()
	}
	r := &result{line: "thinraft " + quoteArgs(args), stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("$ %s: %w", r.line, ctx.Err())
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return r, fmt.Errorf("$ %s: %w", r.line, err)
	}
	return r, nil
}

// run shows `$ thinraft args...`, runs it, shows its output indented and
// requires exit status 0.
func (s *shell) run(ctx context.Context, args ...string) (*result, error) {
	fmt.Fprintf(s.out, "$ thinraft %s\n", quoteArgs(args))
	r, err := s.exec(ctx, args...)
	if err != nil {
		return r, err
	}
	s.show(r.combined())
	if r.code != 0 {
		return r, &checkError{what: r.line, want: "exit status 0", got: fmt.Sprintf("exit status %d", r.code)}
	}
	return r, nil
}

// quiet runs a command without showing it (the checks' JSON reads and
// polls) and requires exit status 0.
func (s *shell) quiet(ctx context.Context, args ...string) (*result, error) {
	r, err := s.exec(ctx, args...)
	if err != nil {
		return r, err
	}
	if r.code != 0 {
		return r, &checkError{what: r.line, want: "exit status 0", got: fmt.Sprintf("exit status %d: %s", r.code, strings.TrimSpace(r.combined()))}
	}
	return r, nil
}

// show prints command output indented under its command line.
func (s *shell) show(text string) {
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return
	}
	for _, l := range strings.Split(text, "\n") {
		fmt.Fprintf(s.out, "  %s\n", l)
	}
}

// quoteArgs joins args as a shell would need them typed.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$*?;&|<>()#~`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// cliEnv is the environment of every CLI command: the user's, with
// THINRAFT_CONFIG pointing at the demo cluster's client.json.
func cliEnv(clientJSON string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "THINRAFT_CONFIG=") {
			env = append(env, e)
		}
	}
	return append(env, "THINRAFT_CONFIG="+clientJSON)
}
