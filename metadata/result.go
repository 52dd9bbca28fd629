package metadata

import (
	"errors"
	"fmt"
)

// Code classifies a refused command; the API maps codes to HTTP statuses.
type Code string

// Error codes.
const (
	CodeNotFound    Code = "not_found"
	CodeExists      Code = "exists"
	CodeInvalid     Code = "invalid"
	CodeNoSpace     Code = "no_space"
	CodeConflict    Code = "conflict"
	CodeQuota       Code = "quota"
	CodeUnavailable Code = "unavailable"
)

// Error is a command refused by validation. It is a value in the FSM's
// result, identical on every replica, never a panic.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is lets callers match a code with errors.Is(err, &metadata.Error{Code: c}).
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

func errf(c Code, format string, a ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, a...)}
}

// CodeOf returns err's code, or "" if err is not an *Error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Result is what Apply returns for every command (raft's ApplyFuture
// response). Err is set when the command was refused; the state is then
// unchanged.
type Result struct {
	// Index is the Raft index the command was applied at.
	Index uint64 `json:"index"`
	Err   *Error `json:"error,omitempty"`
	// UUID is the created or addressed object's uuid.
	UUID string `json:"uuid,omitempty"`
	// Intents are the ids of intents the command queued (or, for an
	// abandon, every intent it abandoned including dependants).
	Intents []string `json:"intents,omitempty"`
	// Batch is the batch number a completion assigned.
	Batch uint64 `json:"batch,omitempty"`
	// Already is set when a completion repeated one already applied (an
	// agent's retry after a lost response): nothing changed.
	Already bool `json:"already,omitempty"`
	// Replayed is set when the command repeated an idempotency key whose
	// command had already succeeded: this is that first result, and
	// nothing changed now.
	Replayed bool `json:"replayed,omitempty"`
}

// AsError returns r.Err as an error, nil when the command succeeded. (Not
// named Error: a Result must not satisfy the error interface.)
func (r *Result) AsError() error {
	if r == nil || r.Err == nil {
		return nil
	}
	return r.Err
}
