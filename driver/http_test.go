package driver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandlerRefusals: requests refused before any cluster call answer
// one-line JSON errors with the kind's status.
func TestHandlerRefusals(t *testing.T) {
	d, err := New(&refusingAPI{}, Config{VG: "vg0"})
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(d)
	cases := []struct {
		method, path, body string
		status             int
		code               Kind
	}{
		{http.MethodGet, "/cinder/v1/get_volume_stats", "", 405, KindInvalid},
		{http.MethodPost, "/cinder/v1/no_such_call", "{}", 404, KindNotFound},
		{http.MethodPost, "/cinder/v1/", "{}", 404, KindNotFound},
		{http.MethodPost, "/other", "{}", 404, KindNotFound},
		{http.MethodPost, "/cinder/v1/create_volume/x", "{}", 404, KindNotFound},
		{http.MethodPost, "/cinder/v1/create_volume", `{"volume":`, 400, KindInvalid},
		{http.MethodPost, "/cinder/v1/create_volume", `{"volume":{"id":"a","size":1}} x`, 400, KindInvalid},
		{http.MethodPost, "/cinder/v1/create_volume", `{"volume":{"id":"a","size":-1}}`, 400, KindInvalid},
		{http.MethodPost, "/cinder/v1/extend_volume", `{"volume":{"id":"a","size":1},"new_size":null}`, 400, KindInvalid},
		{http.MethodPost, "/cinder/v1/create_volume", `{"volume":{"id":"a","size":1},"pad":"` + strings.Repeat("x", maxBody) + `"}`, 400, KindInvalid},
		{http.MethodPost, "/cinder/v1/migrate_volume", `{"volume":{"id":"a","size":1},"host":{"host":"h"}}`, 501, KindNotSupported},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var eb ErrorBody
		body := w.Body.String()
		if err := json.Unmarshal([]byte(body), &eb); err != nil || w.Code != c.status || eb.Error.Code != c.code {
			t.Errorf("%s %s: %d %.200s, want %d %s", c.method, c.path, w.Code, body, c.status, c.code)
		}
		if strings.Count(strings.TrimSpace(body), "\n") != 0 || eb.Error.Message == "" {
			t.Errorf("%s %s: error body %.200q is not one line with a message", c.method, c.path, body)
		}
	}
}

// refusingAPI fails the test's calls if any reaches the cluster.
type refusingAPI struct{ API }
