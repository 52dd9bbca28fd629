package conformance

import (
	"testing"

	"github.com/thinraft/thinraft/dm/dmtest"
)

// newKernelEnv runs a case on the running kernel's device-mapper: backing
// devices are sparse files in a temp dir attached as loop devices
// (dm/dmtest).
func newKernelEnv(t *testing.T) (Env, error) { return dmtest.New(dmtest.Kernel, t.TempDir()) }
