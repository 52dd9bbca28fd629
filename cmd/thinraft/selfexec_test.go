package main

import (
	"os"
	"os/exec"
	"testing"
)

// envRunMain, set to "1" in a child's environment, makes this test binary
// run main() instead of the tests: the process tests start it as
// `thinraft agent` and `thinraft cluster init`. One binary serves the host
// (no `go build` per test) and the vmtest guest, which has no toolchain.
const envRunMain = "THINRAFT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		// Children of the node (thin tools) must not inherit the switch.
		_ = os.Unsetenv(envRunMain)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// selfBinary is the path of this test binary, which runs as thinraft when
// started through thinraftCommand.
func selfBinary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatalf("test binary path: %v", err)
	}
	return bin
}

// thinraftCommand runs bin (selfBinary) as `thinraft args...`.
func thinraftCommand(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	return cmd
}
