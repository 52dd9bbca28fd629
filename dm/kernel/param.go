package kernel

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// NoSpaceTimeoutPath is dm-thin-pool's module parameter: how long a pool
// in queue_if_no_space mode holds IO when out of data space before it
// fails it (seconds; 0 queues forever).
const NoSpaceTimeoutPath = "/sys/module/dm_thin_pool/parameters/no_space_timeout"

// SetNoSpaceTimeout sets the kernel's no_space_timeout. The kernel keeps
// whole seconds, so d must be a whole number of seconds.
func SetNoSpaceTimeout(d time.Duration) error {
	if d < 0 || d%time.Second != 0 {
		return fmt.Errorf("no_space_timeout %v: want a non-negative whole number of seconds", d)
	}
	secs := strconv.FormatInt(int64(d/time.Second), 10)
	if err := os.WriteFile(NoSpaceTimeoutPath, []byte(secs+"\n"), 0o644); err != nil {
		return fmt.Errorf("set no_space_timeout: %w", err)
	}
	return nil
}

// NoSpaceTimeout reads the kernel's no_space_timeout.
func NoSpaceTimeout() (time.Duration, error) {
	b, err := os.ReadFile(NoSpaceTimeoutPath)
	if err != nil {
		return 0, fmt.Errorf("read no_space_timeout: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("read no_space_timeout: %q: %w", b, err)
	}
	return time.Duration(n) * time.Second, nil
}
