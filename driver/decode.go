package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Request is the JSON body of every call over HTTP: the call's arguments
// under Cinder's argument names. Which keys a call takes is in calls.
type Request struct {
	// Connector and ExistingRef are pointers so that an empty object
	// stays distinct from an absent one when the request is re-encoded.
	Volume        *Volume           `json:"volume,omitempty"`
	Snapshot      *Snapshot         `json:"snapshot,omitempty"`
	SrcVref       *Volume           `json:"src_vref,omitempty"`
	NewSize       *int64            `json:"new_size,omitempty"`
	Connector     *Connector        `json:"connector,omitempty"`
	Force         bool              `json:"force,omitempty"`
	ExistingRef   *ExistingRef      `json:"existing_ref,omitempty"`
	Host          *MigrateHost      `json:"host,omitempty"`
	Refresh       bool              `json:"refresh,omitempty"`
	CinderVolumes []Volume          `json:"cinder_volumes,omitempty"`
	Marker        map[string]string `json:"marker,omitempty"`
	Limit         *int              `json:"limit,omitempty"`
	Offset        *int              `json:"offset,omitempty"`
	SortKeys      []string          `json:"sort_keys,omitempty"`
	SortDirs      []string          `json:"sort_dirs,omitempty"`
}

// callArgs lists a call's required and optional argument keys.
type callArgs struct {
	required, optional []string
}

// argsOf returns a call's argument keys by Cinder's call name (a switch,
// not a package map: nothing here is mutable).
func argsOf(call string) (callArgs, bool) {
	switch call {
	case "create_volume", "delete_volume", "ensure_export", "remove_export":
		return callArgs{required: []string{"volume"}}, true
	case "create_snapshot", "delete_snapshot":
		return callArgs{required: []string{"snapshot"}}, true
	case "create_volume_from_snapshot", "revert_to_snapshot":
		return callArgs{required: []string{"volume", "snapshot"}}, true
	case "create_cloned_volume":
		return callArgs{required: []string{"volume", "src_vref"}}, true
	case "extend_volume":
		return callArgs{required: []string{"volume", "new_size"}}, true
	case "migrate_volume":
		return callArgs{required: []string{"volume", "host"}}, true
	case "manage_existing", "manage_existing_get_size":
		return callArgs{required: []string{"volume", "existing_ref"}}, true
	case "get_manageable_volumes":
		return callArgs{optional: []string{"cinder_volumes", "marker", "limit", "offset", "sort_keys", "sort_dirs"}}, true
	case "initialize_connection":
		return callArgs{required: []string{"volume", "connector"}}, true
	case "terminate_connection":
		return callArgs{required: []string{"volume"}, optional: []string{"connector", "force"}}, true
	case "create_export":
		return callArgs{required: []string{"volume"}, optional: []string{"connector"}}, true
	case "get_volume_stats":
		return callArgs{optional: []string{"refresh"}}, true
	}
	return callArgs{}, false
}

// Calls returns the names of the calls the HTTP endpoints serve, sorted.
func Calls() []string {
	return []string{"create_cloned_volume", "create_export", "create_snapshot", "create_volume",
		"create_volume_from_snapshot", "delete_snapshot", "delete_volume", "ensure_export", "extend_volume",
		"get_manageable_volumes", "get_volume_stats", "initialize_connection", "manage_existing",
		"manage_existing_get_size", "migrate_volume", "remove_export", "revert_to_snapshot", "terminate_connection"}
}

// maxBody bounds a request body (get_manageable_volumes carries Cinder's
// volume list, the largest argument).
const maxBody = 8 << 20

// Decode parses call's JSON body: exactly one object, only the call's
// argument keys (the required ones present and not null), no unknown
// fields anywhere, no trailing data. Errors are KindInvalid, one line.
func Decode(call string, data []byte) (*Request, error) {
	ca, ok := argsOf(call)
	if !ok {
		return nil, errorf(KindInvalid, "unknown call %q; the calls are %s", call, strings.Join(Calls(), ", "))
	}
	if len(data) > maxBody {
		return nil, errorf(KindInvalid, "%s: body over %d bytes", call, maxBody)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	var keys map[string]json.RawMessage
	if err := strict(data, &keys); err != nil || keys == nil {
		return nil, errorf(KindInvalid, "%s: body must be one JSON object: %s", call, oneLine(err))
	}
	for k := range keys {
		if !slices.Contains(ca.required, k) && !slices.Contains(ca.optional, k) {
			return nil, errorf(KindInvalid, "%s: unknown argument %q; it takes %s", call, k, strings.Join(append(slices.Clone(ca.required), ca.optional...), ", "))
		}
	}
	for _, k := range ca.required {
		if raw, ok := keys[k]; !ok || string(bytes.TrimSpace(raw)) == "null" {
			return nil, errorf(KindInvalid, "%s: argument %q is required", call, k)
		}
	}
	var r Request
	if err := strict(data, &r); err != nil {
		return nil, errorf(KindInvalid, "%s: %s", call, oneLine(err))
	}
	return &r, nil
}

// strict decodes one JSON value into v, refusing unknown fields and
// trailing data.
func strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the JSON object")
	}
	return nil
}

func oneLine(err error) string {
	if err == nil {
		return "null"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
