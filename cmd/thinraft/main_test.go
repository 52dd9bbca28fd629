package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/cluster/node"
)

func TestDispatchErrors(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{{"frobnicate"}, {"agent"}, {"agent", "--bogus"}, {"cluster"}, {"cluster", "init", "--nodes", "0", "--dir", t.TempDir()}} {
		err := dispatch(ctx, args)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if err := dispatch(ctx, []string{"agent", "--config", filepath.Join(t.TempDir(), "missing.json")}); err == nil || errors.Is(err, errUsage) {
		t.Errorf("missing config: %v", err)
	}
}

// TestClusterInit: the written configs load and name their own
// certificates; a second init into the same directory is refused.
func TestClusterInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	args := []string{"cluster", "init", "--nodes", "3", "--dir", dir, "--base-port", "7400"}
	if err := dispatch(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"n1", "n2", "n3"} {
		cfg, err := node.LoadConfig(filepath.Join(dir, id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ID != id || len(cfg.Bootstrap) != 3 || cfg.Engine != node.EngineEmu || cfg.APIBind != "127.0.0.1:"+[]string{"7401", "7403", "7405"}[i] {
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
	if err := dispatch(context.Background(), args); err == nil || !strings.Contains(err.Error(), "already holds a cluster") {
		t.Fatalf("second init: %v", err)
	}
}
