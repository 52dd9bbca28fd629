package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/thinraft/thinraft/cli"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/cluster/node"
)

const (
	nodes = 3
	// portsPerNode: cluster init gives node I Raft, API and NBD ports at
	// base+3(I-1)+{0,1,2}.
	portsPerNode = 3
	// reportInterval replaces the agents' default usage report interval
	// (30 s) so lvs shows a write's usage within a second or two.
	reportInterval = time.Second
	// stopGrace is how long an agent may take to exit after SIGTERM.
	stopGrace = 20 * time.Second
)

// demo is one run: a temporary directory with the binary, the cluster's
// files and the agents' logs.
type demo struct {
	out  io.Writer
	tmp  string
	opts options

	// dir is the cluster directory cluster init writes.
	dir string
	bin string
	sh  *shell
	ag  *agents
	// cl reads what the CLI does not show: usage report times and the
	// cluster's membership while waiting for it to settle.
	cl *client.Client

	steps, checks int
}

// step starts a numbered section of the walk.
func (d *demo) step(title string) {
	d.steps++
	fmt.Fprintf(d.out, "\n== %d. %s\n", d.steps, title)
}

// ok records a check that held and shows it.
func (d *demo) ok(format string, args ...any) {
	d.checks++
	fmt.Fprintf(d.out, "  ok: %s\n", fmt.Sprintf(format, args...))
}

// note shows a line that is neither a command nor a check.
func (d *demo) note(format string, args ...any) {
	fmt.Fprintf(d.out, "  # %s\n", fmt.Sprintf(format, args...))
}

// moduleRoot finds the thinraft checkout from the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/thinraft/thinraft\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the thinraft checkout: run `make demo` (or `go run ./cmd/demo`) from it, or pass -thinraft BIN")
		}
		dir = parent
	}
}

// build puts a thinraft binary in the temporary directory (or uses
// -thinraft).
func (d *demo) build(ctx context.Context) error {
	if d.opts.thinraft != "" {
		abs, err := filepath.Abs(d.opts.thinraft)
		if err != nil {
			return err
		}
		d.bin = abs
		d.note("using %s (-thinraft)", abs)
		return nil
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	d.bin = filepath.Join(d.tmp, "thinraft")
	fmt.Fprintf(d.out, "$ %s build -o %s ./cmd/thinraft\n", d.opts.goTool, d.bin)
	cmd := exec.CommandContext(ctx, d.opts.goTool, "build", "-o", d.bin, "./cmd/thinraft")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if len(out) > 0 {
		(&shell{out: d.out}).show(string(out))
	}
	if err != nil {
		return fmt.Errorf("go build ./cmd/thinraft: %w", err)
	}
	return nil
}

// freeBase finds a base port with the 3 ports of every node free, below
// the kernel's ephemeral range (32768 and up) so outgoing connections do
// not take them. Another process may still bind one before the agents
// do; the agents then fail at start, loudly.
func freeBase() (int, error) {
	for range 50 {
		base := 20000 + portsPerNode*rand.IntN(4000)
		var lns []net.Listener
		ok := true
		for i := range portsPerNode * nodes {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			_ = ln.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no free range of loopback ports between 20000 and 32000")
}

// initCluster runs `thinraft cluster init` and shortens the report
// interval in the configurations it wrote.
func (d *demo) initCluster(ctx context.Context) error {
	base, err := freeBase()
	if err != nil {
		return err
	}
	d.dir = filepath.Join(d.tmp, "cluster")
	clientJSON := filepath.Join(d.dir, "client.json")
	d.ag = newAgents(d.bin, d.dir)
	d.sh = &shell{bin: d.bin, env: cliEnv(clientJSON), out: d.out, track: d.ag.track}
	if _, err := d.sh.run(ctx, "cluster", "init", "--nodes", strconv.Itoa(nodes), "--dir", d.dir, "--base-port", strconv.Itoa(base)); err != nil {
		return err
	}
	for i := 1; i <= nodes; i++ {
		path := filepath.Join(d.dir, fmt.Sprintf("n%d.json", i))
		cfg, err := node.LoadConfig(path)
		if err != nil {
			return fmt.Errorf("cluster init wrote %s: %w", path, err)
		}
		cfg.ReportInterval = node.Duration(reportInterval)
		if err := node.WriteConfig(path, cfg); err != nil {
			return err
		}
	}
	d.note("set \"report_interval\": %q in n1..n%d.json (default 30s), so usage shows soon after a write", reportInterval, nodes)
	cc, err := cli.LoadClientConfig(clientJSON)
	if err != nil {
		return fmt.Errorf("cluster init's client.json: %w", err)
	}
	cc.RetryTimeout, cc.RequestTimeout = 20*time.Second, 20*time.Second
	if d.cl, err = client.New(cc); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "$ export THINRAFT_CONFIG=%s\n", clientJSON)
	return nil
}

// startAgent starts node id and shows it as the shell line a user runs.
func (d *demo) startAgent(id string) error {
	fmt.Fprintf(d.out, "$ thinraft agent --config %s 2>>%s &\n",
		filepath.Join(d.dir, id+".json"), d.ag.logPath(id))
	if err := d.ag.start(id); err != nil {
		return err
	}
	d.note("%s runs as pid %d", id, d.ag.pid(id))
	return nil
}

// cleanup stops whatever still runs (on success the walk has stopped the
// agents already and checked their exit status) and checks that nothing
// the demo started is left.
func (d *demo) cleanup() error {
	if d.cl != nil {
		d.cl.Close()
	}
	if d.ag == nil {
		return nil
	}
	var errs []error
	if len(d.ag.ids()) > 0 {
		errs = append(errs, d.ag.stopAll(stopGrace))
	}
	errs = append(errs, d.ag.leftovers())
	return errors.Join(errs...)
}

// showLogs prints the end of every node's log after a failure.
func (d *demo) showLogs() {
	if d.ag == nil {
		return
	}
	for i := 1; i <= nodes; i++ {
		id := fmt.Sprintf("n%d", i)
		b, err := os.ReadFile(d.ag.logPath(id))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(d.out, "\n-- last lines of %s --\n%s\n", d.ag.logPath(id), strings.Join(lines, "\n"))
	}
}
