package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// decodeBody decodes exactly one JSON object into v, refusing unknown
// fields (a misspelt field would otherwise be silently ignored) and
// trailing data, then runs v's own checks.
func decodeBody(data []byte, v interface{ check() error }) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errorf("invalid", "empty request body; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf("invalid", "request body: "+oneLine(err.Error()))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf("invalid", "request body: data after the JSON object")
	}
	return v.check()
}

func readJSON(r *http.Request, v interface{ check() error }) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return errorf("invalid", "request body unreadable")
	}
	return decodeBody(data, v)
}

// The checks below are about the request's shape only; the FSM validates
// names, sizes and states, identically on every replica.

func (q *VGCreateRequest) check() error {
	if q.Name == "" {
		return errorf("invalid", "name is required")
	}
	if q.MaxVolumes < 0 {
		return errorf("invalid", "max_volumes must be >= 0")
	}
	return nil
}

func (q *PoolCreateRequest) check() error {
	if q.Name == "" || q.Node == "" {
		return errorf("invalid", "name and node are required")
	}
	return nil
}

func (q *VolumeCreateRequest) check() error {
	if q.Name == "" || q.Pool == "" {
		return errorf("invalid", "name and pool are required")
	}
	if q.SizeBytes == 0 {
		return errorf("invalid", "size_bytes is required")
	}
	return nil
}

func (q *VolumePatchRequest) check() error {
	if q.SizeBytes == nil && q.Tags == nil && q.ReadOnly == nil && q.NewName == nil && q.Active == nil && q.ActivationSkip == nil {
		return errorf("invalid", "nothing to change; give size_bytes, tags, read_only, activation_skip, active or new_name")
	}
	if q.NewName != nil && *q.NewName == "" {
		return errorf("invalid", "new_name must not be empty")
	}
	return nil
}

func (q *SnapshotCreateRequest) check() error {
	if q.Name == "" {
		return errorf("invalid", "name is required")
	}
	return nil
}

func (q *RevertRequest) check() error {
	if q.Snapshot == "" {
		return errorf("invalid", "snapshot is required")
	}
	return nil
}

// waitParam reads ?wait=<duration>, capped at MaxWait.
func (s *Server) waitParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errorf("invalid", fmt.Sprintf("wait=%q: want a duration such as 5s", v))
	}
	return min(d, s.cfg.MaxWait), nil
}

// pageParams reads ?after=<name>&limit=<n>.
func pageParams(r *http.Request) (string, int, error) {
	q := r.URL.Query()
	limit := DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > MaxPageSize {
			return "", 0, errorf("invalid", fmt.Sprintf("limit=%q: want 1..%d", v, MaxPageSize))
		}
		limit = n
	}
	return q.Get("after"), limit, nil
}
