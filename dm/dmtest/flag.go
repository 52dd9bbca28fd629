package dmtest

import (
	"flag"
	"fmt"
)

// The engine names accepted by the -*.engine flags.
const (
	// Emu is the userspace engine (dm/emu), the default everywhere.
	Emu = "emu"
	// Kernel is the running kernel's device-mapper (dm/kernel): root, and
	// in practice the qemu VM of cmd/vmtest.
	Kernel = "kernel"
)

// EngineFlag registers the flag -NAME (for example "thinpool.engine") on
// the command line flag set with the default Emu and returns its value.
// Call it once per test binary, from a package-level var.
func EngineFlag(name string) *string {
	return flag.String(name, Emu, "dm.Control under test: emu (userspace engine) or kernel (real device-mapper, root, in the VM)")
}

// CheckEngine returns an error naming the valid choices unless engine is
// Emu or Kernel.
func CheckEngine(flagName, engine string) error {
	switch engine {
	case Emu, Kernel:
		return nil
	}
	return fmt.Errorf("-%s=%q: want %s or %s", flagName, engine, Emu, Kernel)
}
