package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// agent is one `thinraft agent` child.
type agent struct {
	id   string
	cmd  *exec.Cmd
	done chan struct{}
	// err is cmd.Wait's result, valid once done is closed.
	err error
}

// agents owns every `thinraft agent` process the demo starts. Each runs in
// its own process group, so a Ctrl-C on the terminal reaches only the demo,
// which then stops them in order; and a group can be checked as a whole
// for leftovers (an agent's own children included).
type agents struct {
	bin, dir string

	mu      sync.Mutex
	running map[string]*agent
	// pgids of every agent ever started and every CLI command run, for the
	// final leftover check.
	pgids []int
}

func newAgents(bin, dir string) *agents {
	return &agents{bin: bin, dir: dir, running: map[string]*agent{}}
}

func (a *agents) logPath(id string) string { return filepath.Join(a.dir, id+".log") }

// start runs `thinraft agent --config DIR/ID.json`, its log (JSON lines)
// appended to DIR/ID.log.
func (a *agents) start(id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running[id] != nil {
		return fmt.Errorf("start %s: already running", id)
	}
	lf, err := os.OpenFile(a.logPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	cmd := exec.Command(a.bin, "agent", "--config", filepath.Join(a.dir, id+".json"))
	cmd.Stdout, cmd.Stderr = lf, lf
	// Pdeathsig is the safety net for a demo killed with SIGKILL, which
	// runs no cleanup: the kernel then kills the agents with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return fmt.Errorf("start %s: %w", id, err)
	}
	ag := &agent{id: id, cmd: cmd, done: make(chan struct{})}
	go func() {
		ag.err = cmd.Wait()
		_ = lf.Close()
		close(ag.done)
	}()
	a.running[id] = ag
	a.pgids = append(a.pgids, cmd.Process.Pid)
	return nil
}

func (a *agents) take(id string) *agent {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag := a.running[id]
	delete(a.running, id)
	return ag
}

// ids lists the running agents, sorted.
func (a *agents) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for id := range a.running {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// track adds a process group (a CLI command's) to the leftover check.
func (a *agents) track(pgid int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pgids = append(a.pgids, pgid)
}

// pid is the running agent's process id (0 if not running).
func (a *agents) pid(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ag := a.running[id]; ag != nil {
		return ag.cmd.Process.Pid
	}
	return 0
}

// exited reports an agent that stopped by itself (a port taken, a bad
// config), with the last line of its log, or nil while all run.
func (a *agents) exited() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(a.running)) {
		ag := a.running[id]
		select {
		case <-ag.done:
			b, _ := os.ReadFile(a.logPath(id))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			return fmt.Errorf("agent %s exited by itself (%v); last log line: %s", id, ag.err, lines[len(lines)-1])
		default:
		}
	}
	return nil
}

// kill sends SIGKILL to the agent's process group (kill -9: no shutdown
// path runs) and reaps it.
func (a *agents) kill(id string) error {
	ag := a.take(id)
	if ag == nil {
		return fmt.Errorf("kill %s: not running", id)
	}
	_ = syscall.Kill(-ag.cmd.Process.Pid, syscall.SIGKILL)
	<-ag.done
	return nil
}

// stop sends SIGTERM and requires exit status 0 within grace; an agent
// that does not exit by then is killed and reported.
func (a *agents) stop(id string, grace time.Duration) error {
	ag := a.take(id)
	if ag == nil {
		return fmt.Errorf("stop %s: not running", id)
	}
	if err := ag.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s: SIGTERM: %w", id, err)
	}
	select {
	case <-ag.done:
	case <-time.After(grace):
		_ = syscall.Kill(-ag.cmd.Process.Pid, syscall.SIGKILL)
		<-ag.done
		return fmt.Errorf("stop %s: still running %v after SIGTERM; killed it (see %s)", id, grace, a.logPath(id))
	}
	if ag.err != nil {
		return fmt.Errorf("stop %s: exited after SIGTERM with %v, want status 0 (see %s)", id, ag.err, a.logPath(id))
	}
	return nil
}

// stopAll stops every running agent: SIGTERM to all at once (so no node
// waits for a quorum the others already left), then each must exit 0 in
// grace; stragglers are killed. It returns every failure.
func (a *agents) stopAll(grace time.Duration) error {
	var taken []*agent
	for _, id := range a.ids() {
		ag := a.take(id)
		_ = ag.cmd.Process.Signal(syscall.SIGTERM)
		taken = append(taken, ag)
	}
	// One deadline for all: each wait gets what is left of it.
	deadline := time.Now().Add(grace)
	var errs []error
	for _, ag := range taken {
		select {
		case <-ag.done:
			if ag.err != nil {
				errs = append(errs, fmt.Errorf("%s exited after SIGTERM with %v, want status 0 (see %s)", ag.id, ag.err, a.logPath(ag.id)))
			}
		case <-time.After(time.Until(deadline)):
			_ = syscall.Kill(-ag.cmd.Process.Pid, syscall.SIGKILL)
			<-ag.done
			errs = append(errs, fmt.Errorf("%s still running %v after SIGTERM; killed it (see %s)", ag.id, grace, a.logPath(ag.id)))
		}
	}
	return errors.Join(errs...)
}

// leftovers checks that no live process is in any group the demo
// started (reaped agents and anything they spawned). Zombies do not count:
// a killed agent's child is a zombie until init reaps it, and runs no more.
// A group with a live member gets SIGKILL and is named in the error.
//
// A group id is the pid of its first member, and the kernel hands out no
// pid still in use as a group id; an id comes round again only after the
// pids wrap (pid_max, 32768 at the least), far more processes than a run
// of the demo sees on a busy host. So a live member of a tracked group is
// the demo's own.
func (a *agents) leftovers() error {
	a.mu.Lock()
	pgids := slices.Clone(a.pgids)
	a.mu.Unlock()
	live, err := liveInGroups(pgids)
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range pgids {
		if pids := live[g]; len(pids) > 0 {
			_ = syscall.Kill(-g, syscall.SIGKILL)
			errs = append(errs, fmt.Errorf("process group %d still had live processes %v after shutdown; killed them", g, pids))
		}
	}
	return errors.Join(errs...)
}

// liveInGroups lists, from /proc, the processes that are not zombies in
// each of the process groups.
func liveInGroups(pgids []int) (map[int][]int, error) {
	want := map[int]bool{}
	for _, g := range pgids {
		want[g] = true
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	out := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		state, pgrp, ok := parseStat(string(b))
		if ok && want[pgrp] && state != "Z" && state != "X" {
			out[pgrp] = append(out[pgrp], pid)
		}
	}
	return out, nil
}

// parseStat reads the state and process group from /proc/PID/stat:
// "pid (comm) state ppid pgrp ...", where comm may hold spaces and
// parentheses, so fields count from the last ')'.
func parseStat(stat string) (state string, pgrp int, ok bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 3 {
		return "", 0, false
	}
	g, err := strconv.Atoi(f[2])
	if err != nil {
		return "", 0, false
	}
	return f[0], g, true
}
