package driver

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bodies to the decoder of every call. It must
// not panic; a refusal is a one-line KindInvalid error; what it accepts
// carries the call's required arguments, survives a JSON round trip
// unchanged and is accepted again.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(0), []byte(`{"volume":{"id":"1a000000-0000-4000-8000-000000000001","size":1,"host":"h@b#pool0"}}`))
	f.Add(uint8(4), []byte(`{"volume":{"id":"v","size":2},"snapshot":{"id":"s","volume_id":"v","volume_size":1}}`))
	f.Add(uint8(11), []byte(`{"cinder_volumes":[{"id":"a","size":1}],"marker":{"source-name":"x"},"limit":1,"offset":0,"sort_keys":["size"],"sort_dirs":["desc"]}`))
	f.Add(uint8(12), []byte(`{"volume":{"id":"v","size":1},"connector":{"host":"c","multipath":false,"wwpns":["a"]}}`))
	f.Add(uint8(17), []byte(`{"refresh":true}`))
	calls := Calls()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		call := calls[int(which)%len(calls)]
		q, err := Decode(call, data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s: refusal of kind other than invalid: %v", call, err)
			}
			if s := oneLine(err); s != err.Error() {
				t.Fatalf("%s: error is not one line: %q", call, err.Error())
			}
			return
		}
		ca, _ := argsOf(call)
		for _, k := range ca.required {
			if !present(q, k) {
				t.Fatalf("%s: accepted without %s: %s", call, k, data)
			}
		}
		again, err := json.Marshal(q)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		q2, err := Decode(call, again)
		if err != nil {
			t.Fatalf("%s: round trip %s refused: %v", call, again, err)
		}
		back, err := json.Marshal(q2)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, back) {
			t.Fatalf("%s: round trip changed %s into %s", call, again, back)
		}
	})
}

// present reports whether the decoded request carries argument k.
func present(q *Request, k string) bool {
	switch k {
	case "volume":
		return q.Volume != nil
	case "snapshot":
		return q.Snapshot != nil
	case "src_vref":
		return q.SrcVref != nil
	case "new_size":
		return q.NewSize != nil
	case "connector":
		return q.Connector != nil
	case "existing_ref":
		return q.ExistingRef != nil
	case "host":
		return q.Host != nil
	}
	return false
}
