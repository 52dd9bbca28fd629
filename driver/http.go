package driver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// PathPrefix is where the calls are served: POST PathPrefix + call name.
const PathPrefix = "/cinder/v1/"

// Answer is every successful HTTP answer: the call's return value.
type Answer struct {
	Result any `json:"result"`
}

// ErrorBody is every HTTP error answer: one line of JSON.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an error's kind and a one-line message naming the fix.
type ErrorDetail struct {
	Code    Kind   `json:"code"`
	Message string `json:"message"`
}

// Handler serves the driver's calls over HTTP: POST /cinder/v1/<call> with
// the call's arguments as a JSON object (Cinder's names and dict shapes),
// answered 200 {"result": ...} or an error {"error":{"code","message"}}
// with the kind's status (docs/cinder.md).
func Handler(d *Driver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
		if !ok || call == "" || strings.Contains(call, "/") {
			writeError(w, errorf(KindNotFound, "no route %s; POST %s<call>, calls: %s", r.URL.Path, PathPrefix, strings.Join(Calls(), ", ")))
			return
		}
		if _, known := argsOf(call); !known {
			writeError(w, errorf(KindNotFound, "unknown call %q; calls: %s", call, strings.Join(Calls(), ", ")))
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{Code: KindInvalid, Message: r.Method + " " + r.URL.Path + ": use POST"}})
			return
		}
		data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			writeError(w, errorf(KindInvalid, "%s: body unreadable: %v", call, err))
			return
		}
		req, err := Decode(call, data)
		if err != nil {
			writeError(w, err)
			return
		}
		res, err := d.Dispatch(r.Context(), call, req)
		if err != nil {
			d.log.Warn("call failed", "call", call, "err", err)
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, Answer{Result: res})
	})
}

// Dispatch runs one decoded call and returns what it returns (for
// manage_existing_get_size {"size": n}, for migrate_volume
// {"moved": bool, "model_update": ...}).
func (d *Driver) Dispatch(ctx context.Context, call string, q *Request) (any, error) {
	vol := func() Volume { return *q.Volume }
	switch call {
	case "create_volume":
		return d.CreateVolume(ctx, vol())
	case "delete_volume":
		return nil, d.DeleteVolume(ctx, vol())
	case "create_snapshot":
		return d.CreateSnapshot(ctx, *q.Snapshot)
	case "delete_snapshot":
		return nil, d.DeleteSnapshot(ctx, *q.Snapshot)
	case "create_volume_from_snapshot":
		return d.CreateVolumeFromSnapshot(ctx, vol(), *q.Snapshot)
	case "create_cloned_volume":
		return d.CreateClonedVolume(ctx, vol(), *q.SrcVref)
	case "extend_volume":
		return nil, d.ExtendVolume(ctx, vol(), *q.NewSize)
	case "revert_to_snapshot":
		return nil, d.RevertToSnapshot(ctx, vol(), *q.Snapshot)
	case "migrate_volume":
		moved, mu, err := d.MigrateVolume(ctx, vol(), *q.Host)
		if err != nil {
			return nil, err
		}
		return map[string]any{"moved": moved, "model_update": mu}, nil
	case "manage_existing":
		return d.ManageExisting(ctx, vol(), deref(q.ExistingRef))
	case "manage_existing_get_size":
		n, err := d.ManageExistingGetSize(ctx, vol(), deref(q.ExistingRef))
		if err != nil {
			return nil, err
		}
		return map[string]int64{"size": n}, nil
	case "get_manageable_volumes":
		return d.GetManageableVolumes(ctx, q.CinderVolumes, q.Marker, q.Limit, q.Offset, q.SortKeys, q.SortDirs)
	case "initialize_connection":
		return d.InitializeConnection(ctx, vol(), deref(q.Connector))
	case "terminate_connection":
		return nil, d.TerminateConnection(ctx, vol(), deref(q.Connector), q.Force)
	case "ensure_export":
		return d.EnsureExport(ctx, vol())
	case "create_export":
		return d.CreateExport(ctx, vol(), deref(q.Connector))
	case "remove_export":
		return nil, d.RemoveExport(ctx, vol())
	case "get_volume_stats":
		return d.GetVolumeStats(ctx, q.Refresh)
	}
	return nil, errorf(KindInvalid, "unknown call %q", call)
}

func writeError(w http.ResponseWriter, err error) {
	var de *Error
	if !errors.As(err, &de) {
		de = &Error{Kind: KindBackend, Message: "internal", Err: err}
	}
	writeJSON(w, de.Kind.Status(), ErrorBody{Error: ErrorDetail{Code: de.Kind, Message: oneLine(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func deref[M ~map[string]any](m *M) M {
	if m == nil {
		return nil
	}
	return *m
}
