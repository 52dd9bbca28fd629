package client

import (
	"fmt"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/metadata"
)

// Error is an error answered by the API (or, for ErrOutcomeUnknown and
// ErrAbandoned, established by the client).
type Error struct {
	// Status is the HTTP status (0 when the client made the error up).
	Status  int
	Code    string
	Message string
	// Leader is the leader a not_leader error named, if any.
	Leader *api.LeaderRef
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("thinraft api: %s (%d): %s", e.Code, e.Status, e.Message)
	}
	return fmt.Sprintf("thinraft api: %s: %s", e.Code, e.Message)
}

// Is matches errors by code: errors.Is(err, client.ErrNotFound).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is. Only Code matters in a comparison.
var (
	ErrNotFound       = &Error{Code: string(metadata.CodeNotFound)}
	ErrExists         = &Error{Code: string(metadata.CodeExists)}
	ErrConflict       = &Error{Code: string(metadata.CodeConflict)}
	ErrInvalid        = &Error{Code: string(metadata.CodeInvalid)}
	ErrNoSpace        = &Error{Code: string(metadata.CodeNoSpace)}
	ErrQuota          = &Error{Code: string(metadata.CodeQuota)}
	ErrUnavailable    = &Error{Code: string(metadata.CodeUnavailable)}
	ErrNotLeader      = &Error{Code: api.CodeNotLeader}
	ErrUnauthorized   = &Error{Code: api.CodeUnauthorized}
	ErrOutcomeUnknown = &Error{Code: api.CodeOutcomeUnknown}
	ErrTimeout        = &Error{Code: api.CodeTimeout}
	// ErrAbandoned: WaitOperation saw the operation abandoned by its agent.
	ErrAbandoned = &Error{Code: "abandoned"}
)

// retryable reports whether an API error allows sending any request
// again: not_leader means it was not applied (no leader reachable, an
// election). metadata's unavailable (a pool's node is down) is not an
// election and is returned at once.
func retryable(e *Error) bool { return e.Code == api.CodeNotLeader }
