package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/thinraft/thinraft/cluster/node"
)

// nodeProfiles fetches each node process's profiles from its debug
// listener (cluster/node debug_bind) over one run: a CPU profile of the
// run, and the allocation profile at both ends (`go tool pprof
// -sample_index alloc_space -base P.allocs0 P.allocs1`). Unlike -cpuprofile
// with -procs=false it shows one node as it runs in production, with its
// own heap and GC.
type nodeProfiles struct {
	prefix string
	cfgs   []*node.Config
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

func startNodeProfiles(ctx context.Context, prefix string, cfgs []*node.Config, span time.Duration) *nodeProfiles {
	np := &nodeProfiles{prefix: prefix, cfgs: cfgs}
	secs := int(span/time.Second) + 1
	for _, cfg := range cfgs {
		np.fetch(ctx, cfg, "/debug/pprof/allocs", "allocs0")
		np.wg.Add(1)
		go func() {
			defer np.wg.Done()
			np.fetch(ctx, cfg, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), "cpu")
		}()
	}
	return np
}

// finish waits for the CPU profiles and takes the closing allocation
// profiles; nil np does nothing.
func (np *nodeProfiles) finish(ctx context.Context) error {
	if np == nil {
		return nil
	}
	np.wg.Wait()
	for _, cfg := range np.cfgs {
		np.fetch(ctx, cfg, "/debug/pprof/allocs", "allocs1")
	}
	fmt.Printf("node profiles: %s.<node>.{cpu,allocs0,allocs1}\n", np.prefix)
	return errors.Join(np.errs...)
}

func (np *nodeProfiles) fetch(ctx context.Context, cfg *node.Config, path, kind string) {
	err := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cfg.DebugBind+path, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		f, err := os.Create(fmt.Sprintf("%s.%s.%s", np.prefix, cfg.ID, kind))
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}()
	if err != nil {
		np.mu.Lock()
		np.errs = append(np.errs, fmt.Errorf("node %s profile %s: %w", cfg.ID, kind, err))
		np.mu.Unlock()
	}
}
