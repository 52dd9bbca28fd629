package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/node"
)

// enableFaultFiles points every node's config at its fault file
// (DIR/nI.faults, absent: no fault), so a test can partition the real
// processes (cluster/node/faults.go): the node cuts its Raft and
// node-to-node HTTPS links to the nodes its file names.
func enableFaultFiles(t *testing.T, dir string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		path := filepath.Join(dir, id+".json")
		cfg, err := node.LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg.FaultFile = filepath.Join(dir, id+".faults")
		if err := node.WriteConfig(path, cfg); err != nil {
			t.Fatal(err)
		}
	}
}

// isolate cuts node id off from every other node, on both sides, as a
// network partition would: each process stops talking to the other side
// within its fault file's poll interval.
func (c *procCluster) isolate(id string) {
	c.t.Helper()
	var others []string
	for other := range c.apis {
		if other != id {
			others = append(others, other)
		}
	}
	slices.Sort(others)
	c.writeFaults(id, others)
	for _, o := range others {
		c.writeFaults(o, []string{id})
	}
}

// heal restores every link.
func (c *procCluster) heal() {
	c.t.Helper()
	for id := range c.apis {
		c.writeFaults(id, nil)
	}
}

func (c *procCluster) writeFaults(id string, cut []string) {
	c.t.Helper()
	b, err := json.Marshal(map[string][]string{"isolate": append([]string{}, cut...)})
	if err != nil {
		c.t.Fatal(err)
	}
	path := filepath.Join(c.dir, id+".faults")
	// Rename for atomicity: the node polls the file and must never read
	// half of it.
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		c.t.Fatal(err)
	}
}

// pauseFor stops process id with SIGSTOP for d, then continues it: the
// node drops out of the cluster (its peers elect without it), and on
// SIGCONT it comes back believing what it believed before — a deposed
// leader that must not serve stale reads or lose writes. Unlike isolate it
// does not keep running on its own side meanwhile.
func (c *procCluster) pauseFor(id string, d time.Duration) {
	c.t.Helper()
	c.mu.Lock()
	p := c.procs[id]
	c.mu.Unlock()
	if p == nil {
		c.t.Fatalf("pause %s: not running", id)
	}
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.t.Fatalf("SIGSTOP %s: %v", id, err)
	}
	time.Sleep(d)
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		c.t.Fatalf("SIGCONT %s: %v", id, err)
	}
}

// dumpHung ends a node that ignored SIGTERM: SIGQUIT makes the Go runtime
// write every goroutine's stack to the node's log, which the test prints.
func (c *procCluster) dumpHung(id string, p *proc) {
	c.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	b, _ := os.ReadFile(c.logPath(id))
	if i := bytes.Index(b, []byte("SIGQUIT")); i >= 0 {
		b = b[i:]
	}
	c.t.Errorf("%s did not stop within 20 s of SIGTERM; its goroutines:\n%s", id, tail(b, 24<<10))
}
