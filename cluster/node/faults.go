package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"slices"
	"time"

	"github.com/thinraft/thinraft/cluster/pki"
	"github.com/thinraft/thinraft/cluster/raftnode"
)

// faultPoll is how often a node rereads its fault file.
const faultPoll = 50 * time.Millisecond

// faultSpec is the content of Config.FaultFile: the nodes this node's links
// are cut to. {"isolate":[]} or a missing file heals every link.
type faultSpec struct {
	Isolate []string `json:"isolate"`
}

// watchFaults applies the fault file to f until ctx ends. A test partitions
// real processes by writing each side's file: n1 {"isolate":["n2","n3"]},
// n2 and n3 {"isolate":["n1"]}. An unreadable or malformed file is logged
// and leaves the links as they are.
func watchFaults(ctx context.Context, path, local string, f *raftnode.Faults, lg *slog.Logger) {
	var last []byte
	applied := false
	t := time.NewTicker(faultPoll)
	defer t.Stop()
	for {
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			b, err = []byte(`{"isolate":[]}`), nil
		case err != nil:
			lg.Warn("fault file unreadable", "path", path, "err", err)
		}
		if err == nil && (!applied || !bytes.Equal(b, last)) {
			var spec faultSpec
			if jerr := json.Unmarshal(b, &spec); jerr != nil {
				lg.Warn("fault file malformed", "path", path, "err", jerr)
			} else {
				f.Heal()
				spec.Isolate = slices.DeleteFunc(spec.Isolate, func(id string) bool { return id == local })
				if len(spec.Isolate) > 0 {
					f.Isolate(local, spec.Isolate...)
				}
				lg.Warn("fault injection", "isolated_from", spec.Isolate)
				last, applied = b, true
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setupFaults starts fault injection when cfg asks for it; otherwise it
// returns nils and nothing is wrapped.
func setupFaults(ctx context.Context, cfg *Config, ident *pki.Identity, lg *slog.Logger) (*raftnode.Faults, func(context.Context, string, string) (net.Conn, error)) {
	if cfg.FaultFile == "" {
		return nil, nil
	}
	f := raftnode.NewFaults()
	lg.Warn("fault injection enabled: this node obeys its fault file", "path", cfg.FaultFile)
	go watchFaults(ctx, cfg.FaultFile, cfg.ID, f, lg)
	tc := &tls.Config{RootCAs: ident.Roots, Certificates: []tls.Certificate{ident.Certificate}, MinVersion: tls.VersionTLS13}
	return f, f.DialTLS(cfg.ID, tc, &net.Dialer{Timeout: 2 * time.Second})
}
