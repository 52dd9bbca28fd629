package node

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/dm/kernel"
)

// TestOpenEngineKernelMissing: a node configured for the kernel engine on
// a machine without device-mapper stops at start with the fix in the
// error, instead of opening nothing and retrying for ever.
func TestOpenEngineKernelMissing(t *testing.T) {
	ctl, err := kernel.Open()
	if err == nil {
		_ = ctl.Close()
		t.Skip("this machine has device-mapper: the kernel engine opens")
	}
	_, _, _, err = openEngine(&Config{Engine: EngineKernel, DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("kernel engine opened without device-mapper")
	}
	if !errors.Is(err, kernel.ErrNoDeviceMapper) && !strings.Contains(err.Error(), "/dev/mapper/control") {
		t.Errorf("error does not say what is missing: %v", err)
	}
	if !strings.Contains(err.Error(), `engine "emu" runs anywhere`) {
		t.Errorf("error does not name the fix: %v", err)
	}
}
