package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/client"
)

// slowAgent answers creates with a pending operation (the ?wait ran out)
// and finishes it, when waited for, as outcome says.
type slowAgent struct {
	*fakeAPI
	outcome string
	waited  int
}

func (s *slowAgent) CreateVolume(ctx context.Context, vg string, req api.VolumeCreateRequest, opts ...client.Option) (*api.VolumeResponse, error) {
	r, err := s.fakeAPI.CreateVolume(ctx, vg, req, opts...)
	if r != nil {
		r.Operation = &api.Operation{ID: "42", State: api.OpPending}
	}
	return r, err
}

func (s *slowAgent) WaitOperation(_ context.Context, id string) (*api.Operation, error) {
	s.waited++
	if s.outcome == api.OpAbandoned {
		return &api.Operation{ID: id, State: api.OpAbandoned, Reason: "pool would run out of space"},
			&client.Error{Code: client.ErrAbandoned.Code, Message: "operation 42 abandoned: pool would run out of space"}
	}
	return &api.Operation{ID: id, State: api.OpDone}, nil
}

// TestSlowOperation: a create still pending after the server's wait is
// waited for; one the agent abandons fails with its reason (exit 5).
func TestSlowOperation(t *testing.T) {
	for _, c := range []struct {
		outcome string
		code    int
		want    string
	}{
		{api.OpDone, 0, `Logical volume "t" created.`},
		{api.OpAbandoned, ExitFailed, "create thin volume vg/t failed: operation 42 abandoned: pool would run out of space"},
	} {
		s := &slowAgent{fakeAPI: seeded(t), outcome: c.outcome}
		var out, errb bytes.Buffer
		env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		code := runWith(context.Background(), env, strings.Fields("thinraft lvcreate -V 1G -n t -T vg/pool0"), s)
		if code != c.code || s.waited != 1 || !strings.Contains(out.String()+errb.String(), c.want) {
			t.Errorf("%s: exit %d, waited %d times, out %q err %q; want exit %d and %q", c.outcome, code, s.waited, out.String(), errb.String(), c.code, c.want)
		}
	}
}
