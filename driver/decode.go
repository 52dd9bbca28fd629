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

// args is every call's argument keys, by Cinder's call name.
var args = map[string]callArgs{
	"create_volume":               {required: []string{"volume"}},
	"delete_volume":               {required: []string{"volume"}},
	"create_snapshot":             {required: []string{"snapshot"}},
	"delete_snapshot":             {required: []string{"snapshot"}},
	"create_volume_from_snapshot": {required: []string{"volume", "snapshot"}},
	"create_cloned_volume":        {required: []string{"volume", "src_vref"}},
	"extend_volume":               {required: []string{"volume", "new_size"}},
	"revert_to_snapshot":          {required: []string{"volume", "snapshot"}},
	"migrate_volume":              {required: []string{"volume", "host"}},
	"manage_existing":             {required: []string{"volume", "existing_ref"}},
	"manage_existing_get_size":    {required: []string{"volume", "existing_ref"}},
	"get_manageable_volumes":      {optional: []string{"cinder_volumes", "marker", "limit", "offset", "sort_keys", "sort_dirs"}},
	"initialize_connection":       {required: []string{"volume", "connector"}},
	"terminate_connection":        {required: []string{"volume"}, optional: []string{"connector", "force"}},
	"ensure_export":               {required: []string{"volume"}},
	"create_export":               {required: []string{"volume"}, optional: []string{"connector"}},
	"remove_export":               {required: []string{"volume"}},
	"get_volume_stats":            {optional: []string{"refresh"}},
}

// Calls returns the names of the calls the HTTP endpoints serve, sorted.
func Calls() []string {
	var out []string
	for k := range args {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// maxBody bounds a request body (get_manageable_volumes carries Cinder's
// volume list, the largest argument).
const maxBody = 8 << 20

// Decode parses call's JSON body: exactly one object, only the call's
// argument keys (the required ones present and not null), no unknown
// fields anywhere, no trailing data. Errors are KindInvalid, one line.
func Decode(call string, data []byte) (*Request, error) {
	ca, ok := args[call]
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
