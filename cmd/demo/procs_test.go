package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envFake, set in a child's environment, makes this test binary act as a
// stand-in for `thinraft agent` with the behaviour it names (fakeAgent).
const envFake = "THINRAFT_DEMO_FAKE_AGENT"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envFake); mode != "" {
		os.Exit(fakeAgent(mode))
	}
	os.Exit(m.Run())
}

// fakeAgent behaves as mode says on SIGTERM, after printing "ready" (to
// its log) once its signal handling is in place:
//
//	clean   exit 0
//	status  exit 3
//	ignore  ignore SIGTERM, run until killed
//	orphan  start a child in its group, exit 0 leaving it running
//	die     exit 1 at once, without a signal
func fakeAgent(mode string) int {
	term := make(chan os.Signal, 1)
	if mode == "ignore" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}
	if mode == "orphan" {
		if err := exec.Command("sleep", "60").Start(); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	fmt.Println("ready")
	if mode == "die" {
		return 1
	}
	<-term
	if mode == "status" {
		return 3
	}
	return 0
}

// startFakes starts agents n1 and n2 as fakes in mode and waits until
// both are ready.
func startFakes(t *testing.T, mode string) *agents {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envFake, mode)
	a := newAgents(bin, t.TempDir())
	t.Cleanup(func() { _ = a.stopAll(time.Second); waitGone(t, a) })
	for _, id := range []string{"n1", "n2"} {
		if err := a.start(id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"n1", "n2"} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, _ := os.ReadFile(a.logPath(id))
			if strings.Contains(string(b), "ready") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("fake %s not ready in 20s; its log: %q", id, b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return a
}

// TestAgentsShutdown covers the demo's guarantee that nothing outlives it:
// a clean SIGTERM exit passes; a non-zero exit, an agent that ignores
// SIGTERM and a process an agent leaves behind in its group are each
// reported; afterwards no live process of any group exists.
func TestAgentsShutdown(t *testing.T) {
	for _, c := range []struct {
		mode, stopErr, leftErr string
	}{
		{"clean", "", ""},
		{"status", "exit status 3", ""},
		{"ignore", "still running", ""},
		{"orphan", "", "still had live processes"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			a := startFakes(t, c.mode)
			if err := a.start("n1"); err == nil {
				t.Fatal("second start of n1: want an error")
			}
			check(t, "stopAll", a.stopAll(2*time.Second), c.stopErr)
			if ids := a.ids(); len(ids) != 0 {
				t.Fatalf("still running after stopAll: %v", ids)
			}
			check(t, "leftovers", a.leftovers(), c.leftErr)
			// leftovers killed what it found: soon nothing is left.
			waitGone(t, a)
		})
	}
}

// TestAgentsKillStop: kill -9 reaps an agent at once; stop of a clean
// one passes; neither counts as running afterwards.
func TestAgentsKillStop(t *testing.T) {
	a := startFakes(t, "ignore")
	pid := a.pid("n1")
	if pid == 0 {
		t.Fatal("no pid for a running agent")
	}
	if err := a.kill("n1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("pid %d exists after kill", pid)
	}
	if a.pid("n1") != 0 || a.kill("n1") == nil || a.stop("n1", time.Second) == nil {
		t.Fatal("a killed agent still counts as running")
	}
	check(t, "stop of an agent ignoring SIGTERM", a.stop("n2", time.Second), "still running")

	b := startFakes(t, "clean")
	check(t, "stop", b.stop("n1", 10*time.Second), "")
	if ids := b.ids(); len(ids) != 1 || ids[0] != "n2" {
		t.Fatalf("running %v, want [n2]", ids)
	}
}

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		in    string
		state string
		pgrp  int
		ok    bool
	}{
		{"123 (thinraft) S 1 123 123 0 -1", "S", 123, true},
		{"9 (a b) c)) Z 1 77 9 0", "Z", 77, true},
		{"9 (x) R", "", 0, false},
		{"garbage", "", 0, false},
	} {
		state, pgrp, ok := parseStat(c.in)
		if state != c.state || pgrp != c.pgrp || ok != c.ok {
			t.Errorf("parseStat(%q) = %q %d %v, want %q %d %v", c.in, state, pgrp, ok, c.state, c.pgrp, c.ok)
		}
	}
}

func check(t *testing.T, what string, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %v, want an error containing %q", what, err, want)
	}
}

// waitGone waits (bounded) until no live process of the agents' groups
// is left: SIGKILL is delivered asynchronously.
func waitGone(t *testing.T, a *agents) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		live, err := liveInGroups(a.pgids)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("live processes 10s after shutdown: %v (see %s)", live, filepath.Join(a.dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentsExited: an agent that stops by itself is named, with the last
// line of its log, so a wait for the cluster fails at once with the cause.
func TestAgentsExited(t *testing.T) {
	a := startFakes(t, "clean")
	check(t, "exited with every agent running", a.exited(), "")

	b := startFakes(t, "die")
	deadline := time.Now().Add(10 * time.Second)
	for b.exited() == nil {
		if time.Now().After(deadline) {
			t.Fatal("a dead agent not reported in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	check(t, "exited", b.exited(), "agent n1 exited by itself (exit status 1); last log line: ready")
}
