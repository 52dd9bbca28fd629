package main

import (
	"path/filepath"

	"github.com/thinraft/thinraft/cli"
	"github.com/thinraft/thinraft/cluster/node"
)

// writeClientConfig writes DIR/client.json for the CLI: every node's API
// address, the CA, the token and the admin client certificate, by absolute
// path so the file works from any directory.
func writeClientConfig(dir string, peers []node.Peer) error {
	cfg := cli.ClientConfig{
		CAFile:    filepath.Join(dir, "ca.crt"),
		TokenFile: filepath.Join(dir, "token"),
		CertFile:  filepath.Join(dir, "client.crt"),
		KeyFile:   filepath.Join(dir, "client.key"),
	}
	for _, p := range peers {
		cfg.Endpoints = append(cfg.Endpoints, p.APIAddr)
	}
	return cli.WriteClientConfig(filepath.Join(dir, "client.json"), cfg)
}
