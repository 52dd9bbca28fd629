package main

import (
	"bytes"
	"os"
	"syscall"
	"time"
)

// pauseFor stops process id with SIGSTOP for d, then continues it. It is
// the fault these tests can inject without a hook in the agent: the node
// drops out of the cluster as under a partition (its peers elect without
// it), and on SIGCONT it comes back believing what it believed before —
// a deposed leader that must not serve stale reads or lose writes. Unlike
// a real partition it does not keep running on its own side meanwhile.
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
