package apitest

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB whose failure state and log output the test
// sets and reads.
type recorder struct {
	testing.TB
	failed bool
	out    []string
}

func (r *recorder) Helper()      {}
func (r *recorder) Failed() bool { return r.failed }
func (r *recorder) Logf(format string, args ...any) {
	r.out = append(r.out, fmt.Sprintf(format, args...))
}

func TestLogIfFailed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failed  bool
		written string
		want    []string // substrings of the one output; nil: no output
		not     string
	}{
		{name: "passed", written: "x\n"},
		{name: "failed, short", failed: true, written: "first\nlast\n", want: []string{"logs:\nfirst\nlast\n"}},
		{name: "failed, long keeps the end", failed: true,
			written: "HEAD" + strings.Repeat(".", logTail) + "END",
			want:    []string{fmt.Sprintf("(last %d of %d bytes)", logTail, logTail+7), "END"}, not: "HEAD"},
	} {
		var b LogBuffer
		fmt.Fprint(&b, tc.written)
		r := &recorder{failed: tc.failed}
		b.LogIfFailed(r, "logs")
		if tc.want == nil {
			if len(r.out) != 0 {
				t.Errorf("%s: wrote %q", tc.name, r.out)
			}
			continue
		}
		if len(r.out) != 1 {
			t.Fatalf("%s: %d outputs, want 1", tc.name, len(r.out))
		}
		for _, w := range tc.want {
			if !strings.Contains(r.out[0], w) {
				t.Errorf("%s: output lacks %q", tc.name, w)
			}
		}
		if tc.not != "" && strings.Contains(r.out[0], tc.not) {
			t.Errorf("%s: output has %q", tc.name, tc.not)
		}
		if len(r.out[0]) > logTail+100 {
			t.Errorf("%s: %d bytes written", tc.name, len(r.out[0]))
		}
	}
}
