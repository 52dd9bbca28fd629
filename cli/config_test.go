package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/cluster/pki"
)

// TestLoadClientConfig: relative paths resolve against the file's
// directory; a token alone authenticates; each broken file is one error
// naming what to fix.
func TestLoadClientConfig(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("test", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFiles(dir, "ca", ca.Cert, ca.Key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(cfg ClientConfig) string {
		p := filepath.Join(dir, "client.json")
		if err := WriteClientConfig(p, cfg); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := ClientConfig{Endpoints: []string{"127.0.0.1:1"}, CAFile: "ca.crt", TokenFile: "token"}
	cfg, err := LoadClientConfig(write(good))
	if err != nil || cfg.Token != "secret" || cfg.CA == nil || len(cfg.Endpoints) != 1 {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, c := range []struct {
		cfg  ClientConfig
		want string
	}{
		{ClientConfig{CAFile: "ca.crt", TokenFile: "token"}, "lists no endpoints"},
		{ClientConfig{Endpoints: []string{"x:1"}, TokenFile: "token"}, "names no ca_file"},
		{ClientConfig{Endpoints: []string{"x:1"}, CAFile: "ca.crt"}, "neither token_file nor cert_file"},
		{ClientConfig{Endpoints: []string{"x:1"}, CAFile: "token", TokenFile: "token"}, "holds no PEM certificate"},
		{ClientConfig{Endpoints: []string{"x:1"}, CAFile: "ca.crt", TokenFile: "missing"}, "token"},
		{ClientConfig{Endpoints: []string{"x:1"}, CAFile: "ca.crt", CertFile: "nope.crt", KeyFile: "nope.key"}, "client certificate"},
	} {
		_, err := LoadClientConfig(write(c.cfg))
		if err == nil || !strings.Contains(err.Error(), c.want) || ExitCode(err) != ExitFailed {
			t.Errorf("%+v: %v, want %q (exit 5)", c.cfg, err, c.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"endpoint":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadClientConfig(filepath.Join(dir, "bad.json")); err == nil || !strings.Contains(err.Error(), "fix the JSON") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := LoadClientConfig(filepath.Join(dir, "none.json")); ExitCode(err) != ExitInvalid || !strings.Contains(err.Error(), "thinraft cluster init") {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigPath(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		flag string
		env  map[string]string
		want string
	}{
		{"f.json", map[string]string{EnvConfig: "e.json", "HOME": "/h"}, "f.json"},
		{"", map[string]string{EnvConfig: "e.json", "HOME": "/h"}, "e.json"},
		{"", map[string]string{"HOME": "/h"}, "/h/.config/thinraft/client.json"},
	} {
		if got, err := configPath(c.flag, env(c.env)); err != nil || got != c.want {
			t.Errorf("%q %v: %q %v, want %q", c.flag, c.env, got, err, c.want)
		}
	}
	if _, err := configPath("", env(nil)); ExitCode(err) != ExitInvalid {
		t.Errorf("no HOME: %v", err)
	}
}
