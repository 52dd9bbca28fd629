package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestUsage: bad command lines exit 2 with one line naming the fix, and
// start nothing.
func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-bogus"}, "flag provided but not defined"},
		{[]string{"extra"}, "unexpected argument \"extra\""},
		{[]string{"-timeout", "0s"}, "want a positive duration"},
		{[]string{"-timeout", "soon"}, "invalid value"},
	} {
		var out, errb bytes.Buffer
		if got := mainStatus(c.args, &out, &errb); got != exitUsage {
			t.Errorf("%v: status %d, want %d", c.args, got, exitUsage)
		}
		if !strings.Contains(errb.String(), c.msg) || out.Len() != 0 {
			t.Errorf("%v: stderr %q stdout %q; want stderr naming %q and no stdout", c.args, errb.String(), out.String(), c.msg)
		}
	}
}

// TestClosedOutputEndsDemo: a reader that goes away (`make demo | head`)
// ends the demo as an interrupt does, through the write's EPIPE.
func TestClosedOutputEndsDemo(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()
	broken := false
	g := pipeGuard{w: w, broken: func() { broken = true }}
	if _, err := g.Write([]byte("== 1. Build thinraft\n")); !errors.Is(err, syscall.EPIPE) || !broken {
		t.Fatalf("write to a closed pipe: %v, ended %v; want EPIPE and the demo ended", err, broken)
	}
}
