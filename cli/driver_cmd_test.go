package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	ucli "github.com/urfave/cli/v3"
)

func TestDriverServeUsage(t *testing.T) {
	cases := []struct {
		name string
		argv []string
		code int
	}{
		{"no vg", []string{"thinraft", "driver", "serve"}, ExitInvalid},
		{"stray argument", []string{"thinraft", "driver", "serve", "--vg", "vg0", "extra"}, ExitInvalid},
		{"no client config", []string{"thinraft", "--cluster-config", "/nonexistent/client.json", "driver", "serve", "--vg", "vg0"}, ExitInvalid},
		{"no subcommand", []string{"thinraft", "driver"}, ExitInvalid},
	}
	for _, c := range cases {
		root := &ucli.Command{Name: "thinraft", Commands: []*ucli.Command{DriverCommand()},
			Flags:          []ucli.Flag{&ucli.StringFlag{Name: flagClusterConfig}},
			ExitErrHandler: func(context.Context, *ucli.Command, error) {}}
		err := root.Run(context.Background(), c.argv)
		if got := ExitCode(err); got != c.code {
			t.Errorf("%s: exit %d (%v), want %d", c.name, got, err, c.code)
		}
	}
}

func TestDriverToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	h, err := withToken(ok, "secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		header string
		want   int
	}{{"", 401}, {"Bearer wrong", 401}, {"secret", 401}, {"Bearer secret", 200}} {
		r := httptest.NewRequest(http.MethodPost, "/cinder/v1/get_volume_stats", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("Authorization %q: %d, want %d", c.header, w.Code, c.want)
		}
	}
	if _, err := withToken(ok, ""); err == nil {
		t.Error("an empty token was accepted")
	}
}
