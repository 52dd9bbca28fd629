package conformance

import (
	"flag"
	"fmt"
	"testing"
	"time"
)

var engineFlag = flag.String("dm.engine", "emu", "dm.Control under test: emu (userspace engine) or kernel (real device-mapper, root, in the VM)")

// TestConformance runs every case in testdata/*.txt, one subtest each,
// against the engine chosen with -dm.engine.
func TestConformance(t *testing.T) {
	cases, err := LoadDir(*scriptsFlag)
	if err != nil {
		t.Fatal(err)
	}
	newEnv, err := envFactory(*engineFlag)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{CmdTimeout: 60 * time.Second}
	t.Logf("engine %s: %d cases", *engineFlag, len(cases))
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			env, err := newEnv(t)
			if err != nil {
				t.Fatalf("env: %v", err)
			}
			Run(t, env, c, fmt.Sprintf("cf%03d-", i), opts)
		})
	}
}

func envFactory(engine string) (func(*testing.T) (Env, error), error) {
	switch engine {
	case "emu":
		return newEmuEnv, nil
	case "kernel":
		return newKernelEnv, nil
	}
	return nil, fmt.Errorf("-dm.engine=%q: want emu or kernel", engine)
}
