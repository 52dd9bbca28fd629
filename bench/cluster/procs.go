package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/thinraft/thinraft/cluster/node"
)

// procs runs the rig's nodes as `thinraft agent` processes instead of
// goroutines, so each node's RSS can be read on its own.
type procs struct {
	cmds []*exec.Cmd
	done []chan error
}

// startProcs builds cmd/thinraft into dir and starts one agent process
// per configuration, logging to dir/<id>.log.
func startProcs(dir string, cfgs []*node.Config, env []string) (*procs, error) {
	bin := filepath.Join(dir, "thinraft")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/thinraft").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build thinraft (run from the repository root): %v\n%s", err, out)
	}
	p := &procs{}
	for _, cfg := range cfgs {
		path := filepath.Join(dir, cfg.ID+".json")
		if err := node.WriteConfig(path, cfg); err != nil {
			return nil, err
		}
		lf, err := os.Create(filepath.Join(dir, cfg.ID+".log"))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "agent", "--config", path)
		cmd.Stdout, cmd.Stderr = lf, lf
		cmd.Env = append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			lf.Close()
			p.stop()
			return nil, fmt.Errorf("start %s: %w", cfg.ID, err)
		}
		d := make(chan error, 1)
		go func() { d <- cmd.Wait(); lf.Close() }()
		p.cmds = append(p.cmds, cmd)
		p.done = append(p.done, d)
	}
	return p, nil
}

// rss reads each process's VmRSS in bytes.
func (p *procs) rss() ([]uint64, error) {
	var out []uint64
	for _, c := range p.cmds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Process.Pid))
		if err != nil {
			return nil, err
		}
		v, err := vmRSS(b)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// stop sends SIGTERM (a graceful node stop) and waits; a process still
// running after a minute is killed and reported.
func (p *procs) stop() error {
	for _, c := range p.cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	var errs []string
	for i, d := range p.done {
		select {
		case err := <-d:
			if err != nil {
				errs = append(errs, fmt.Sprintf("node %d: %v", i+1, err))
			}
		case <-time.After(60 * time.Second):
			_ = p.cmds[i].Process.Kill()
			<-d
			errs = append(errs, fmt.Sprintf("node %d did not stop on SIGTERM", i+1))
		}
	}
	p.cmds, p.done = nil, nil
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
