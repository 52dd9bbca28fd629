package cli

import (
	"slices"
	"testing"

	"github.com/thinraft/thinraft/cli/report"
	"github.com/thinraft/thinraft/metadata"
)

func selectRows() []report.LVRow {
	pools := []metadata.Pool{{UUID: "p0", VG: "vg", Name: "pool0", Node: "n1"}}
	vols := []metadata.Volume{
		{UUID: "a", VG: "vg", Name: "thin1", Pool: "p0", Tags: []string{"app", "db"}},
		{UUID: "b", VG: "vg", Name: "thin1s1", Pool: "p0", Origin: "a", IsSnapshot: true},
		{UUID: "c", VG: "vg", Name: "thin2", Pool: "p0"},
	}
	return report.BuildLVRows(pools, vols, nil, true)
}

func selectNames(t *testing.T, expr string) ([]string, error) {
	t.Helper()
	sel, err := parseSelect(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range selectRows() {
		if sel(&r) {
			f, _ := selectField("lv_name")
			out = append(out, f(&r)[0])
		}
	}
	slices.Sort(out)
	return out, nil
}

func TestSelect(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
		bad  bool
	}{
		{expr: "lv_name=thin1", want: []string{"thin1"}},
		{expr: "name = thin1", want: []string{"thin1"}},
		{expr: "origin=thin1", want: []string{"thin1s1"}},
		{expr: "pool_lv=pool0 && origin=''", want: []string{"thin1", "thin2"}},
		{expr: "pool_lv=pool0,origin=\"\"", want: []string{"thin1", "thin2"}},
		{expr: "lv_tags=db", want: []string{"thin1"}},
		{expr: "segtype=thin-pool || lv_name=~^thin2", want: []string{"pool0", "thin2"}},
		{expr: "segtype=thin-pool # lv_name=thin2", want: []string{"pool0", "thin2"}},
		{expr: "!(segtype=thin) && segtype!=linear", want: []string{"pool0"}},
		{expr: "lv_name!~thin", want: []string{"[pool0_tdata]", "[pool0_tmeta]", "pool0"}},
		{expr: "segtype=linear", want: []string{"[pool0_tdata]", "[pool0_tmeta]"}},
		{expr: "node=n1 && vg_name=vg && lv_uuid=c", want: []string{"thin2"}},
		{expr: "lv_size>1g", bad: true},
		{expr: "bogus=1", bad: true},
		{expr: "lv_name", bad: true},
		{expr: "(lv_name=a", bad: true},
		{expr: "lv_name=~(", bad: true},
		{expr: "lv_name='x", bad: true},
		{expr: "lv_name=a b", bad: true},
	} {
		got, err := selectNames(t, c.expr)
		if c.bad {
			if err == nil || ExitCode(err) != ExitInvalid {
				t.Errorf("%q: %v %v, want an invalid-command-line error", c.expr, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %v %v, want %v", c.expr, got, err, c.want)
		}
	}
}

// FuzzSelect: any expression either fails to parse with an error or
// evaluates on every row without panicking.
func FuzzSelect(f *testing.F) {
	for _, s := range []string{"lv_name=thin1", "pool_lv=pool0 && origin=''", "!(segtype=thin) || lv_tags=~^a", "name=\"x y\"#vg_name!=vg"} {
		f.Add(s)
	}
	rows := selectRows()
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := parseSelect(s)
		if err != nil {
			return
		}
		for i := range rows {
			sel(&rows[i])
		}
	})
}
