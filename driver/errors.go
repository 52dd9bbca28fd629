package driver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/thinraft/thinraft/cluster/client"
)

// Kind classifies a driver error the way Cinder's exceptions do, so a
// caller (or the HTTP shim in front of Cinder) can raise the matching one.
type Kind string

// Kinds, with the Cinder exception each stands for.
const (
	// KindInvalid: InvalidInput (bad arguments).
	KindInvalid Kind = "invalid_input"
	// KindNotFound: VolumeNotFound / SnapshotNotFound.
	KindNotFound Kind = "not_found"
	// KindExists: the name is taken by another object.
	KindExists Kind = "exists"
	// KindBusy: VolumeIsBusy / SnapshotIsBusy (in use, or not settled).
	KindBusy Kind = "busy"
	// KindNoSpace: the pool refused new demand (the reserve) or is out of
	// thin ids.
	KindNoSpace Kind = "no_space"
	// KindNotSupported: NotImplementedError.
	KindNotSupported Kind = "not_supported"
	// KindInvalidRef: ManageExistingInvalidReference.
	KindInvalidRef Kind = "manage_existing_invalid_reference"
	// KindAlreadyManaged: ManageExistingAlreadyManaged.
	KindAlreadyManaged Kind = "manage_existing_already_managed"
	// KindUnavailable: the pool's node is down or the cluster has no
	// leader (VolumeBackendAPIException, worth retrying later).
	KindUnavailable Kind = "unavailable"
	// KindBackend: VolumeBackendAPIException (anything else).
	KindBackend Kind = "backend"
)

// Error is every error the driver returns.
type Error struct {
	Kind    Kind
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches by kind: errors.Is(err, driver.ErrNotSupported).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Message == "" && t.Err == nil
}

// Sentinels for errors.Is; only Kind is compared.
var (
	ErrInvalid        = &Error{Kind: KindInvalid}
	ErrNotFound       = &Error{Kind: KindNotFound}
	ErrExists         = &Error{Kind: KindExists}
	ErrBusy           = &Error{Kind: KindBusy}
	ErrNoSpace        = &Error{Kind: KindNoSpace}
	ErrNotSupported   = &Error{Kind: KindNotSupported}
	ErrInvalidRef     = &Error{Kind: KindInvalidRef}
	ErrAlreadyManaged = &Error{Kind: KindAlreadyManaged}
	ErrUnavailable    = &Error{Kind: KindUnavailable}
	ErrBackend        = &Error{Kind: KindBackend}
)

// Status is the HTTP status of a kind.
func (k Kind) Status() int {
	switch k {
	case KindInvalid, KindInvalidRef:
		return http.StatusBadRequest
	case KindNotFound:
		return http.StatusNotFound
	case KindExists, KindBusy, KindAlreadyManaged:
		return http.StatusConflict
	case KindNoSpace:
		return http.StatusInsufficientStorage
	case KindNotSupported:
		return http.StatusNotImplemented
	case KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// wrap turns an API client error into a driver error of the matching
// kind, with what the driver was doing as context.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return &Error{Kind: de.Kind, Message: fmt.Sprintf(format, args...), Err: err}
	}
	k := KindBackend
	switch {
	case errors.Is(err, client.ErrNotFound):
		k = KindNotFound
	case errors.Is(err, client.ErrExists):
		k = KindExists
	case errors.Is(err, client.ErrConflict):
		k = KindBusy
	case errors.Is(err, client.ErrInvalid):
		k = KindInvalid
	case errors.Is(err, client.ErrNoSpace), errors.Is(err, client.ErrQuota):
		k = KindNoSpace
	case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrNotLeader),
		errors.Is(err, client.ErrTimeout), errors.Is(err, client.ErrOutcomeUnknown):
		k = KindUnavailable
	case errors.Is(err, client.ErrAbandoned):
		// The agent refused the kernel work; the reserve refusal is the
		// one a caller can act on (free space, another pool).
		if strings.Contains(err.Error(), "reserve") || strings.Contains(err.Error(), "out of") {
			k = KindNoSpace
		}
	}
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Err: err}
}
