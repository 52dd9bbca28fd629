package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/cli"
	"github.com/thinraft/thinraft/cluster/node"
)

// runArgs runs `thinraft args...` in process and returns the exit code,
// stdout and stderr.
func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := run(context.Background(), env, append([]string{"thinraft"}, args...))
	return code, out.String(), errb.String()
}

// TestDispatchErrors: package main's own commands keep their exit codes
// (2 on usage, 1 on failure) and "thinraft: " one-line errors; LVM-like
// usage errors exit 3.
func TestDispatchErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"agent"}, 2},
		{[]string{"agent", "--bogus"}, 2},
		{[]string{"agent", "--config", "a", "extra"}, 2},
		{[]string{"cluster", "init", "--nodes", "0", "--dir", t.TempDir()}, 2},
		{[]string{"cluster", "init", "--nodes", "3"}, 2},
		{[]string{"agent", "--config", filepath.Join(t.TempDir(), "missing.json")}, 1},
		{[]string{"frobnicate"}, cli.ExitInvalid},
		{[]string{"cluster"}, cli.ExitInvalid},
		{[]string{"node"}, cli.ExitInvalid},
	} {
		code, _, stderr := runArgs(t, c.args...)
		if code != c.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", c.args, code, c.code, stderr)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stderr == "" {
			t.Errorf("%q: stderr %q, want one line", c.args, stderr)
		}
		if c.code != cli.ExitInvalid && !strings.HasPrefix(stderr, "thinraft: ") {
			t.Errorf("%q: stderr %q, want the thinraft: prefix", c.args, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runArgs(t, args...)
		if code != 0 || out != "thinraft "+version+"\n" {
			t.Errorf("%q: exit %d, %q", args, code, out)
		}
	}
}

// TestClusterInit: the written configs load and name their own
// certificates; client.json points at the CA, token and client
// certificate and lists every API endpoint; a second init into the same
// directory is refused.
func TestClusterInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	args := []string{"cluster", "init", "--nodes", "3", "--dir", dir, "--base-port", "7400"}
	if code, _, stderr := runArgs(t, args...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for i, id := range []string{"n1", "n2", "n3"} {
		cfg, err := node.LoadConfig(filepath.Join(dir, id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ID != id || len(cfg.Bootstrap) != 3 || cfg.Engine != node.EngineEmu || cfg.APIBind != "127.0.0.1:"+[]string{"7401", "7404", "7407"}[i] ||
			cfg.NBDBind != "127.0.0.1:"+[]string{"7402", "7405", "7408"}[i] {
			t.Errorf("%s: %+v", id, cfg)
		}
		fi, err := os.Stat(cfg.KeyFile)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s key: %v %v", id, fi.Mode(), err)
		}
	}
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil || len(strings.TrimSpace(string(tok))) != 64 {
		t.Fatalf("token %q %v", tok, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "client.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cc cli.ClientConfig
	if err := json.Unmarshal(b, &cc); err != nil {
		t.Fatal(err)
	}
	if strings.Join(cc.Endpoints, ",") != "127.0.0.1:7401,127.0.0.1:7404,127.0.0.1:7407" || cc.TokenFile != filepath.Join(dir, "token") {
		t.Errorf("client.json %+v", cc)
	}
	cfg, err := cli.LoadClientConfig(filepath.Join(dir, "client.json"))
	if err != nil {
		t.Fatalf("client.json does not load: %v", err)
	}
	if cfg.Token != strings.TrimSpace(string(tok)) || cfg.Certificate == nil || len(cfg.Endpoints) != 3 {
		t.Errorf("loaded client config: token %v, certificate %v, endpoints %v", cfg.Token != "", cfg.Certificate != nil, cfg.Endpoints)
	}
	code, _, stderr := runArgs(t, args...)
	if code != 1 || !strings.Contains(stderr, "already holds a cluster") {
		t.Fatalf("second init: exit %d, %q", code, stderr)
	}
}
