package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/cluster/client"
	"github.com/thinraft/thinraft/metadata"
)

// stillBroken is a cluster whose agent re-quarantines the pool at once
// after the quarantine is lifted: its kernel state is still unexplained.
type stillBroken struct{ *fakeAPI }

func (s stillBroken) Unquarantine(_ context.Context, vg, pool string) (*metadata.Pool, error) {
	s.log("pool_unquarantine %s/%s", vg, pool)
	p := s.pool(vg, pool)
	p.Findings = []metadata.Finding{{Kind: "stray-thin", ThinID: 999, Detail: "thin 999 is not in the record"}}
	return p, nil
}

// TestRepair: --repair on a healthy pool does nothing; on a quarantined
// one it lifts the quarantine, and when the agent finds the pool still
// unexplained the command fails with the findings and the runbook.
func TestRepair(t *testing.T) {
	f := seeded(t)
	if code, out, e := runFake(t, f, "", "lvconvert --repair vg/pool0"); code != 0 || len(f.writes) != 0 || !strings.Contains(out, "not quarantined") {
		t.Fatalf("healthy pool: exit %d writes %q out %q err %q", code, f.writes, out, e)
	}
	f.pool("vg", "pool0").State = metadata.PoolQuarantined
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		Connect: func(client.Config) (API, error) { return stillBroken{f}, nil }}
	code := runWith(context.Background(), env, []string{"thinraft", "lvconvert", "--repair", "vg/pool0"}, stillBroken{f})
	if code != ExitFailed || !slices.Equal(f.writes, []string{"pool_unquarantine vg/pool0"}) {
		t.Fatalf("still broken: exit %d writes %q err %q", code, f.writes, errb.String())
	}
	for _, want := range []string{"still inconsistent", "stray-thin: thin 999 is not in the record", "docs/repair.md"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("error %q does not name %q", errb.String(), want)
		}
	}
}
