package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/thinraft/thinraft/cluster/client"
)

// LVM's exit codes (lvm(8)): ECMD_PROCESSED 1 is success for LVM's own
// commands, but its processes exit 0; 3 is an invalid command line and 5
// a failed command.
const (
	ExitOK      = 0
	ExitInvalid = 3
	ExitFailed  = 5
)

// ExitError carries the process exit code an error ends the command with.
type ExitError struct {
	Code int
	Err  error
	// Plain: print the message as is (package main's own commands carry
	// their "thinraft: " prefix), not indented like LVM's.
	Plain bool
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// usagef is an invalid command line (exit 3): the message names the fix.
func usagef(format string, a ...any) error {
	return &ExitError{Code: ExitInvalid, Err: fmt.Errorf(format, a...)}
}

// notSupported is LVM's command line asking for something a thin-only
// cluster does not have (exit 3, like an unknown option).
func notSupported(what, fix string) error {
	return usagef("%s is not supported by thinraft: thin volumes only; %s", what, fix)
}

// failf is a command that was understood but failed (exit 5).
func failf(format string, a ...any) error {
	return &ExitError{Code: ExitFailed, Err: fmt.Errorf(format, a...)}
}

// errReported ends a command with exit 5 after its errors were printed
// one per line as they happened (several LVs, each refused or declined on
// its own): Run prints nothing more.
func errReported() error { return &ExitError{Code: ExitFailed, Err: errors.New("")} }

// ExitCode maps an error to the process exit code: ExitError's own code,
// else 5 (LVM's "failed").
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailed
}

// apiErr turns an API error into the one line a user reads: the server's
// message (which names the fix) without the transport's prefix, plus a
// hint for the errors whose fix is on the user's side of the wire.
func apiErr(what string, err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) {
		return failf("%s: %v", what, err)
	}
	msg := ce.Message
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		msg += " (check the token and CA in the client configuration; see `thinraft cluster init`)"
	case errors.Is(err, client.ErrNotLeader):
		msg += " (no leader reachable: check that a majority of nodes run; `thinraft cluster status`)"
	case errors.Is(err, client.ErrOutcomeUnknown):
		msg += " (the leader changed mid-write: run `thinraft lvs` to see whether it took effect)"
	}
	return failf("%s: %s", what, oneLine(msg))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
