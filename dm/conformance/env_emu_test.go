package conformance

import (
	"testing"

	"github.com/thinraft/thinraft/dm/dmtest"
)

// newEmuEnv runs a case on a fresh userspace engine rooted in a temp dir;
// backing devices are sparse files there (dm/dmtest).
func newEmuEnv(t *testing.T) (Env, error) { return dmtest.New(dmtest.Emu, t.TempDir()) }
