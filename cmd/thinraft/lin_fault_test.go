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

// stopOrDump stops process id with SIGTERM like stop, but when it has not
// exited within the grace period it sends SIGQUIT, so the Go runtime
// writes every goroutine's stack to the node's log, and logs that dump:
// a hang at shutdown is then diagnosable from the test output.
func (c *procCluster) stopOrDump(id string) {
	c.t.Helper()
	p := c.take(id)
	if p == nil {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Errorf("SIGTERM %s: %v", id, err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			c.t.Errorf("%s exited after SIGTERM: %v", id, p.err)
		}
		return
	case <-time.After(20 * time.Second):
	}
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
