package node

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestDebugListener: off by default; when configured it serves the Go
// profiler's index and stops with the node.
func TestDebugListener(t *testing.T) {
	lg := slog.New(slog.DiscardHandler)
	if d, err := startDebug(&Config{}, lg); d != nil || err != nil {
		t.Fatalf("no debug_bind: %v %v, want nothing started", d, err)
	}
	d, err := startDebug(&Config{DebugBind: "127.0.0.1:0"}, lg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + d.addr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("pprof index: %d %q", resp.StatusCode, body)
	}
	d.stop()
	if _, err := http.Get("http://" + d.addr + "/debug/pprof/"); err == nil {
		t.Fatal("debug listener still serving after stop")
	}
}
