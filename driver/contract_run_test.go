package driver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/driver"
)

// The contract's runner: one step through the Go methods or the HTTP
// handler, the checks on its result and on the cluster, and the test
// actions that are not driver calls (NBD reads and writes with qemu-io,
// held connections, waiting for usage reports).

type runner struct {
	t    *testing.T
	d    *driver.Driver
	cl   *client.Client
	url  string
	rep  *strings.Replacer
	free map[string]float64 // free_capacity_gb per pool at the last stats
	// held are NBD clients kept connected by "hold", by volume.
	held map[string]*heldClient
}

type heldClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func (r *runner) run(ctx context.Context, s step) bool {
	t := r.t
	args := r.rep.Replace(s.args)
	var res any
	var kind driver.Kind
	var err error
	switch s.call {
	case "lv_create", "write", "read", "await_free_drop", "hold", "release":
		err = r.action(ctx, s.call, args)
		if err != nil {
			t.Errorf("%s: %v", s.name, err)
			return false
		}
	default:
		if s.http {
			res, kind, err = r.overHTTP(ctx, s.call, args)
		} else {
			res, kind, err = r.direct(ctx, s.call, args)
		}
	}
	if kind != s.err {
		t.Errorf("%s: %s answered kind %q (%v), want %q", s.name, s.call, kind, err, s.err)
		return false
	}
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("%s: error is not one line: %q", s.name, err)
	}
	if s.call == "get_volume_stats" && s.err == "" {
		r.noteFree(res)
	}
	ok := true
	for _, want := range s.result {
		if msg := checkPath(res, r.rep.Replace(want)); msg != "" {
			t.Errorf("%s: result %s", s.name, msg)
			ok = false
		}
	}
	if s.lv != "" {
		ok = r.checkLV(ctx, s) && ok
	}
	return ok
}

// direct decodes the args as the HTTP endpoint does and calls the method.
func (r *runner) direct(ctx context.Context, call, args string) (any, driver.Kind, error) {
	req, err := driver.Decode(call, []byte(args))
	var out any
	if err == nil {
		out, err = r.d.Dispatch(ctx, call, req)
	}
	if err != nil {
		var de *driver.Error
		if !errors.As(err, &de) {
			return nil, "untyped", err
		}
		return nil, de.Kind, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, "untyped", err
	}
	var res any
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, "untyped", err
	}
	return res, "", nil
}

func (r *runner) overHTTP(ctx context.Context, call, args string) (any, driver.Kind, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+driver.PathPrefix+call, strings.NewReader(args))
	if err != nil {
		return nil, "untyped", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "untyped", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var eb driver.ErrorBody
		if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" {
			return nil, "untyped", fmt.Errorf("status %d, body %q", resp.StatusCode, body)
		}
		if eb.Error.Code.Status() != resp.StatusCode {
			return nil, "untyped", fmt.Errorf("kind %s came with status %d, want %d", eb.Error.Code, resp.StatusCode, eb.Error.Code.Status())
		}
		if bytes.Count(bytes.TrimSpace(body), []byte("\n")) > 0 {
			return nil, "untyped", fmt.Errorf("error body is not one line: %q", body)
		}
		return nil, eb.Error.Code, errors.New(eb.Error.Message)
	}
	var ans struct {
		Result any `json:"result"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, "untyped", fmt.Errorf("answer %q: %v", body, err)
	}
	return ans.Result, "", nil
}

func (r *runner) noteFree(res any) {
	r.free = map[string]float64{}
	m, _ := res.(map[string]any)
	pools, _ := m["pools"].([]any)
	for _, p := range pools {
		pm, _ := p.(map[string]any)
		name, _ := pm["pool_name"].(string)
		free, _ := pm["free_capacity_gb"].(float64)
		r.free[name] = free
	}
}

// checkPath checks "a.0.b=value" or "a.0.b" (present) or "#=n" against a
// decoded JSON value; it returns "" when it holds.
func checkPath(v any, want string) string {
	path, val, hasVal := strings.Cut(want, "=")
	if path == "#" {
		l, ok := v.([]any)
		if !ok || strconv.Itoa(len(l)) != val {
			return fmt.Sprintf("has length %v, want %s", lenOf(v), val)
		}
		return ""
	}
	cur := v
	for _, seg := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[seg]
			if !ok {
				return fmt.Sprintf("has no %s", path)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i >= len(c) {
				return fmt.Sprintf("has no %s (list of %d)", path, len(c))
			}
			cur = c[i]
		default:
			return fmt.Sprintf("has no %s", path)
		}
	}
	got := fmt.Sprint(cur)
	if hasVal && got != val && !(strings.HasSuffix(val, "://") && strings.HasPrefix(got, val)) {
		return fmt.Sprintf("%s = %q, want %q", path, got, val)
	}
	return ""
}

func lenOf(v any) any {
	if l, ok := v.([]any); ok {
		return len(l)
	}
	return fmt.Sprintf("%T", v)
}

func (r *runner) checkLV(ctx context.Context, s step) bool {
	t := r.t
	name := r.rep.Replace(s.lv)
	v, err := r.cl.Volume(ctx, "vg0", name)
	if s.gone {
		if !errors.Is(err, client.ErrNotFound) {
			t.Errorf("%s: volume %s: %v, want not found", s.name, name, err)
			return false
		}
		return true
	}
	if err != nil {
		t.Errorf("%s: volume %s: %v", s.name, name, err)
		return false
	}
	ok := true
	fail := func(format string, a ...any) {
		t.Errorf("%s: volume %s: "+format, append([]any{s.name, name}, a...)...)
		ok = false
	}
	if s.size != 0 && v.SizeBytes != uint64(s.size)<<30 {
		fail("size %d bytes, want %d GiB", v.SizeBytes, s.size)
	}
	if s.uuid != "" && v.UUID != r.rep.Replace(s.uuid) {
		fail("uuid %s, want %s", v.UUID, r.rep.Replace(s.uuid))
	}
	if s.active != "" && v.Active != (s.active == "y") {
		fail("active %v, want %s", v.Active, s.active)
	}
	if s.tag != "" && !slices.Contains(v.Tags, r.rep.Replace(s.tag)) {
		fail("tags %v, want %s", v.Tags, r.rep.Replace(s.tag))
	}
	if s.pool != "" {
		p, err := r.cl.Pool(ctx, "vg0", s.pool)
		if err != nil || p.UUID != v.Pool {
			fail("in pool %s, want %s (%v)", v.Pool, s.pool, err)
		}
	}
	return ok
}

// action runs a test step that is not a driver call.
func (r *runner) action(ctx context.Context, call, args string) error {
	var a struct {
		Name, Pool, Volume, Pattern string
		MiB                         uint64 `json:"mib"`
	}
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		return err
	}
	switch call {
	case "lv_create":
		res, err := r.cl.CreateVolume(ctx, "vg0", api.VolumeCreateRequest{Name: a.Name, Pool: a.Pool, SizeBytes: a.MiB << 20}, client.Wait(30*time.Second))
		if err != nil {
			return err
		}
		if res.Operation != nil && res.Operation.State != api.OpDone {
			_, err = r.cl.WaitOperation(ctx, res.Operation.ID)
		}
		return err
	case "write", "read":
		info, err := r.d.InitializeConnection(ctx, driver.Volume{ID: "test", Name: a.Volume}, driver.Connector{"host": "test"})
		if err != nil {
			return err
		}
		op := fmt.Sprintf("%s -P %s 0 %dM", call, a.Pattern, a.MiB)
		return qemuIO(ctx, info.Data.URI, op)
	case "hold":
		info, err := r.d.InitializeConnection(ctx, driver.Volume{ID: "test", Name: a.Volume}, driver.Connector{"host": "test"})
		if err != nil {
			return err
		}
		// qemu-io without -c opens the export and then reads commands
		// from stdin: the connection stays open until stdin closes.
		cmd := exec.Command("qemu-io", "-f", "raw", info.Data.URI)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		if r.held == nil {
			r.held = map[string]*heldClient{}
		}
		r.held[a.Volume] = &heldClient{cmd: cmd, stdin: stdin}
		r.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return r.awaitOpen(ctx, a.Volume, true)
	case "release":
		h := r.held[a.Volume]
		if h == nil {
			return fmt.Errorf("no client holds %s", a.Volume)
		}
		delete(r.held, a.Volume)
		_ = h.stdin.Close()
		if err := h.cmd.Wait(); err != nil {
			return fmt.Errorf("qemu-io on %s: %v", a.Volume, err)
		}
		return r.awaitOpen(ctx, a.Volume, false)
	case "await_free_drop":
		before, ok := r.free[a.Pool]
		if !ok {
			return fmt.Errorf("no earlier stats of pool %s", a.Pool)
		}
		for {
			s, err := r.d.GetVolumeStats(ctx, true)
			if err != nil {
				return err
			}
			for _, p := range s.Pools {
				if p.PoolName == a.Pool && p.FreeCapacityGB < before {
					r.t.Logf("pool %s: free_capacity_gb %.2f -> %.2f", a.Pool, before, p.FreeCapacityGB)
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("free_capacity_gb of %s stayed %.2f: %w", a.Pool, before, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return fmt.Errorf("unknown action %s", call)
}

// awaitOpen waits until the record says whether an NBD client has the
// volume open (the pool's agent reports it).
func (r *runner) awaitOpen(ctx context.Context, name string, open bool) error {
	for {
		v, err := r.cl.Volume(ctx, "vg0", name)
		if err != nil {
			return err
		}
		if v.Open == open {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("volume %s: open stayed %v: %w", name, v.Open, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// qemuIO runs one qemu-io command against an NBD URI. The export appears
// when the pool's agent has activated the volume, which can trail the
// record by a moment, so a refused connection is retried for a while.
func qemuIO(ctx context.Context, uri, op string) error {
	if _, err := exec.LookPath("qemu-io"); err != nil {
		return fmt.Errorf("qemu-io not found: apt-get install qemu-utils")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		out, err := exec.CommandContext(cctx, "qemu-io", "-f", "raw", "-c", op, uri).CombinedOutput()
		cancel()
		s := string(out)
		switch {
		case err == nil && !strings.Contains(s, "failed") && !strings.Contains(s, "error"):
			return nil
		case strings.Contains(s, "Pattern verification failed"):
			return fmt.Errorf("qemu-io %q %s: %s", op, uri, s)
		case time.Now().After(deadline) || ctx.Err() != nil:
			return fmt.Errorf("qemu-io %q %s: %v: %s", op, uri, err, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
