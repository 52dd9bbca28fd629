package api

import (
	"net/http"
	"net/url"
)

func newTestRequest(rawQuery string) *http.Request {
	return &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/v1/vgs", RawQuery: rawQuery}}
}
