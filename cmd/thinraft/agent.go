package main

import (
	"context"
	"fmt"
	"os"

	"github.com/thinraft/thinraft/cluster/node"
)

// runAgent runs one node until SIGTERM/SIGINT.
func runAgent(ctx context.Context, args []string) error {
	const usage = "usage: thinraft agent --config FILE"
	fs := newFlags("agent")
	path := fs.String("config", "", "node configuration file (JSON)")
	if err := parse(fs, usage, args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: --config is required; %s", errUsage, usage)
	}
	cfg, err := node.LoadConfig(*path)
	if err != nil {
		return err
	}
	return node.Run(ctx, cfg, node.Logger(os.Stderr, cfg.LogLevel))
}
