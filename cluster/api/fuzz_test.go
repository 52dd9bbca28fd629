package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// requestKinds are the request bodies the API decodes, indexed by the
// fuzzer's selector.
var requestKinds = []func() interface{ check() error }{
	func() interface{ check() error } { return &VGCreateRequest{} },
	func() interface{ check() error } { return &PoolCreateRequest{} },
	func() interface{ check() error } { return &VolumeCreateRequest{} },
	func() interface{ check() error } { return &VolumePatchRequest{} },
	func() interface{ check() error } { return &SnapshotCreateRequest{} },
	func() interface{ check() error } { return &RevertRequest{} },
	func() interface{ check() error } { return &PoolGrowRequest{} },
}

// FuzzDecode feeds arbitrary bytes to every request decoder. A decoder
// must not panic; what it accepts must pass its own check, survive a
// round trip through JSON unchanged, and be accepted again.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(0), []byte(`{"name":"vg0","tags":["a"],"max_volumes":3}`))
	f.Add(uint8(2), []byte(`{"name":"vol1","pool":"pool0","size_bytes":1048576}`))
	f.Add(uint8(3), []byte(`{"size_bytes":2097152,"new_name":"x","tags":[],"read_only":true}`))
	f.Add(uint8(5), []byte(`{"snapshot":"s"}`))
	f.Add(uint8(6), []byte(`{"data_bytes":2147483648}`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		mk := requestKinds[int(which)%len(requestKinds)]
		v := mk()
		if err := decodeBody(data, v); err != nil {
			if _, ok := err.(*apiError); !ok {
				t.Fatalf("decode error of type %T: %v", err, err)
			}
			if StatusOf(err.(*apiError).detail.Code) != 400 {
				t.Fatalf("decode error %v is not a 400", err)
			}
			return
		}
		if err := v.check(); err != nil {
			t.Fatalf("accepted a body its check refuses: %v", err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		w := mk()
		if err := decodeBody(again, w); err != nil {
			t.Fatalf("round trip %s refused: %v", again, err)
		}
		// Compared on the wire: an empty list and an absent one mean the
		// same (omitempty), except behind a pointer (PATCH's tags: [] clears),
		// where the encoding keeps the difference and so does this check.
		back, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, back) {
			t.Fatalf("round trip changed %s into %s", again, back)
		}
	})
}

// FuzzParams feeds arbitrary query strings to the wait and page parsers.
func FuzzParams(f *testing.F) {
	f.Add("wait=5s&limit=10&after=vol1&stale=true")
	f.Add("wait=-1s&limit=99999")
	s := &Server{cfg: Config{MaxWait: DefaultMaxWait}}
	f.Fuzz(func(t *testing.T, q string) {
		r := newTestRequest(q)
		if d, err := s.waitParam(r); err == nil && (d < 0 || d > DefaultMaxWait) {
			t.Fatalf("wait %v out of range", d)
		}
		if _, limit, err := pageParams(r); err == nil && (limit < 1 || limit > MaxPageSize) {
			t.Fatalf("limit %d out of range", limit)
		}
		_, _ = staleParam(r)
	})
}
