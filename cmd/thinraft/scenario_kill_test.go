package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/thinraft/thinraft/dm/kernel"
	"github.com/thinraft/thinraft/metadata"
)

// settleTime is how long a frozen node's last words take to be applied:
// anything it sent before SIGSTOP (a completion to the leader) has been
// committed after it, even in the TCG guest.
const settleTime = 2 * time.Second

// killDuringStream kills pool's node with SIGKILL while a stream of n
// operations runs on its pool (issued says how many were accepted; from
// is the pool's txn before the stream; the stream holds back while frozen
// is set, so each try costs an op or two, not the rest of the stream) and returns the kernel's
// transaction id at the kill when the kill landed in the completion gap
// (0 otherwise).
//
// On the kernel it hunts the gap where a crash matters most: a batch
// executed in the kernel (its transaction id moved) whose completion has
// not left the node. The test cannot see inside the process, so it
// freezes the node (SIGSTOP) the moment the kernel's id moves, waits
// settleTime, and reads the record: still behind the kernel means the
// completion was never sent, and the node is killed there; otherwise it
// is let go (SIGCONT) and the next batch is tried. A node that leads is
// not frozen (its completion is a local Raft apply that a new leader may
// still commit), and a stream that ends first falls back to a plain kill.
//
// On emu the kernel lives inside the node: it kills once a batch has
// completed while issued intents are still queued or executing.
func (s *scenario) killDuringStream(pool metadata.Pool, from uint64, issued func() int, n int, frozen *atomic.Bool) uint64 {
	s.t.Helper()
	kill := func(how string, rec uint64) {
		s.t.Logf("kill -9 %s (pool %s's node) %s: record txn %d, %d of %d ops issued", pool.Node, pool.Name, how, rec, issued(), n)
		s.c.kill(pool.Node)
	}
	if s.engine == engineKernel && !s.leads(pool.Node) {
		ctl, err := kernel.Open()
		if err != nil {
			s.t.Fatal(err)
		}
		defer ctl.Close()
		last := poolTxn(s.ctx, s.t, ctl, pool)
		tries := 0
		for issued() < n {
			kt := poolTxn(s.ctx, s.t, ctl, pool)
			if kt == last {
				time.Sleep(200 * time.Microsecond)
				continue
			}
			last = kt
			tries++
			frozen.Store(true)
			s.c.signal(pool.Node, syscall.SIGSTOP)
			rec := s.pool(pool.Name).TxnID
			if rec < kt {
				time.Sleep(settleTime)
				rec = s.pool(pool.Name).TxnID
			}
			if rec < kt {
				kill("in the completion gap (frozen, kernel txn "+itoa(kt)+" after try "+itoa(uint64(tries))+")", rec)
				return kt
			}
			s.c.signal(pool.Node, syscall.SIGCONT)
			frozen.Store(false)
		}
		kill("after the stream (the gap was not caught in "+itoa(uint64(tries))+" tries)", s.pool(pool.Name).TxnID)
		return 0
	}
	for {
		k := issued()
		rec := s.pool(pool.Name).TxnID
		if done := int(rec - from); (done >= 2 && done < k) || k >= n {
			kill("mid-stream", rec)
			return 0
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// leads tells whether node id is the leader now.
func (s *scenario) leads(id string) bool {
	s.t.Helper()
	info, err := s.cl.Cluster(s.ctx)
	if err != nil {
		s.t.Fatalf("cluster: %v", err)
	}
	return info.LeaderID == id
}

// signal sends sig to node id's process.
func (c *procCluster) signal(id string, sig syscall.Signal) {
	c.t.Helper()
	c.mu.Lock()
	p := c.procs[id]
	c.mu.Unlock()
	if p == nil {
		c.t.Fatalf("signal %s: not running", id)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal %v to %s: %v", sig, id, err)
	}
}

// poolOpen is a node's "pool open" log line.
type poolOpen struct {
	Pool      string   `json:"pool"`
	KernelTxn uint64   `json:"kernel_txn"`
	RecordTxn uint64   `json:"record_txn"`
	Actions   []string `json:"actions"`
}

// checkReopen reads what the restarted node found when it opened the pool
// (its last "pool open" log line). When the kill landed in the completion
// gap (killedAt > 0, and the record was still at recordTxn before the
// restart), the reopen must have seen the kernel ahead and rolled the
// batch forward. On the kernel the node must have adopted the surviving
// pool device: "pool activated" (a device created) appears once.
func (s *scenario) checkReopen(pool metadata.Pool, killedAt, recordTxn uint64) {
	s.t.Helper()
	b, err := os.ReadFile(s.c.logPath(pool.Node))
	if err != nil {
		s.t.Fatalf("log of %s: %v", pool.Node, err)
	}
	var opens []poolOpen
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `"msg":"pool open"`) {
			continue
		}
		var o poolOpen
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			s.t.Fatalf("log line %q: %v", line, err)
		}
		if o.Pool == pool.UUID {
			opens = append(opens, o)
		}
	}
	if len(opens) < 2 {
		s.t.Fatalf("%s logged %d opens of pool %s, want one per start", pool.Node, len(opens), pool.Name)
	}
	o := opens[len(opens)-1]
	s.t.Logf("reopen after the kill: kernel txn %d, record txn %d, actions %q", o.KernelTxn, o.RecordTxn, o.Actions)
	if killedAt > 0 {
		rolled := false
		for _, a := range o.Actions {
			rolled = rolled || strings.HasPrefix(a, "roll forward")
		}
		if o.KernelTxn != killedAt || o.RecordTxn != recordTxn || !rolled {
			s.t.Errorf("killed with the kernel at txn %d and the record at %d, the reopen saw kernel %d record %d and did %q: want a roll forward",
				killedAt, recordTxn, o.KernelTxn, o.RecordTxn, o.Actions)
		}
	}
	if s.engine == engineKernel && strings.Count(string(b), `"msg":"pool activated"`) != 1 {
		s.t.Errorf("%s activated a pool device more than once: the restart did not adopt the surviving one", pool.Node)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
