package conformance

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
)

var scriptsFlag = flag.String("dm.scripts", "testdata", "directory of conformance scripts (*.txt)")

// TestRunnerDetectsFailures runs the deliberately wrong scripts in
// testdata/negative in a child test process and requires every case to
// fail: the suite's passes mean something only if its failures are seen.
func TestRunnerDetectsFailures(t *testing.T) {
	if *engineFlag != "emu" {
		t.Skip("runs on the userspace engine only: it checks the runner, not the engine")
	}
	cases, err := LoadDir("testdata/negative")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestConformance$", "-test.v", "-dm.scripts=testdata/negative")
	out, _ := cmd.CombinedOutput()
	failed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "--- FAIL: TestConformance/"); ok {
			failed[strings.Fields(name)[0]] = true
		}
		if strings.HasPrefix(line, "--- PASS: TestConformance/") {
			t.Errorf("a case that must fail passed: %s", line)
		}
	}
	for _, c := range cases {
		if !failed[c.Name] {
			t.Errorf("case %s did not fail", c.Name)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}
