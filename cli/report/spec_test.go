package report

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

var lvDefaults = []string{"lv_name", "vg_name", "lv_attr", "lv_size", "pool_lv", "origin", "data_percent",
	"metadata_percent", "move_pv", "mirror_log", "copy_percent", "convert_lv"}

func TestParseFields(t *testing.T) {
	cases := []struct {
		kind  Kind
		specs []string
		want  []string
	}{
		{KindLV, nil, lvDefaults},
		{KindLV, []string{"lv_name,lv_size"}, []string{"lv_name", "lv_size"}},
		// lvmthin(7): lvs -oname,size,data_percent,metadata_percent.
		{KindLV, []string{"name,size,data_percent,metadata_percent"}, []string{"lv_name", "lv_size", "data_percent", "metadata_percent"}},
		{KindLV, []string{"+thin_id,node"}, append(slices.Clone(lvDefaults), "thin_id", "node")},
		// lvmreport(7): -o lv_name,lv_size,origin -o+lv_layout -o-origin.
		{KindLV, []string{"lv_name,lv_size,origin", "+lv_tags", "-origin"}, []string{"lv_name", "lv_size", "lv_tags"}},
		{KindLV, []string{"-move_pv,mirror_log,copy_percent,convert_lv"}, lvDefaults[:8]},
		{KindLV, []string{" LV_NAME , Attr "}, []string{"lv_name", "lv_attr"}},
		{KindLV, []string{"#origin"}, lvDefaults},
		{KindVG, nil, []string{"vg_name", "pv_count", "lv_count", "snap_count", "vg_attr", "vg_size", "vg_free"}},
		{KindVG, []string{"name,size,free"}, []string{"vg_name", "vg_size", "vg_free"}},
		{KindPV, nil, []string{"pv_name", "vg_name", "pv_fmt", "pv_attr", "pv_size", "pv_free"}},
		{KindPV, []string{"+node_state,node_api_addr,node_voter"}, []string{"pv_name", "vg_name", "pv_fmt", "pv_attr", "pv_size", "pv_free", "node_state", "node_api_addr", "node_voter"}},
	}
	for _, c := range cases {
		got, err := ParseFields(c.kind, c.specs...)
		if err != nil {
			t.Errorf("%s -o %q: %v", c.kind.Command(), c.specs, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s -o %q: got %v, want %v", c.kind.Command(), c.specs, got, c.want)
		}
	}
	all, err := ParseFields(KindLV, "lv_all")
	if err != nil || len(all) != len(lvFieldSet().fields) {
		t.Errorf("-o lv_all: got %d fields (%v), want %d", len(all), err, len(lvFieldSet().fields))
	}
}

func TestParseFieldsErrors(t *testing.T) {
	cases := []struct {
		kind    Kind
		specs   []string
		help    bool
		mention string
	}{
		{KindLV, []string{"help"}, true, ""},
		{KindLV, []string{"+?"}, true, ""},
		{KindLV, []string{"lv_name,bogus"}, false, `"bogus"`},
		{KindVG, []string{"lv_attr"}, false, "vgs -o help"},
		{KindPV, []string{"pv_nme"}, false, "pvs -o help"},
		{KindLV, []string{"lv_name,,lv_size"}, false, "empty field name"},
		{KindLV, []string{""}, false, "empty field name"},
		{KindLV, []string{"+"}, false, "empty field name"},
		{KindLV, []string{"lv_name", "-lv_name"}, false, "no fields left"},
	}
	for _, c := range cases {
		_, err := ParseFields(c.kind, c.specs...)
		if c.help {
			if !errors.Is(err, ErrHelp) {
				t.Errorf("-o %q: got %v, want ErrHelp", c.specs, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("-o %q: got %v, want a FieldError", c.specs, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.mention) || !strings.Contains(msg, "-o help") || strings.Contains(msg, "\n") {
			t.Errorf("-o %q: error %q should be one line naming %s and -o help", c.specs, msg, c.mention)
		}
	}
}

func TestParseSort(t *testing.T) {
	c := catalogFor(KindLV)
	got, err := parseSort(c, KindLV, []string{"lv_name", "-size,+vg_name"})
	if err != nil {
		t.Fatal(err)
	}
	want := []sortKey{{"lv_size", true}, {"vg_name", false}}
	if !slices.Equal(got, want) {
		t.Errorf("-O lv_name -O -size,+vg_name: got %v, want %v (the last -O wins)", got, want)
	}
	if def, _ := parseSort(c, KindLV, nil); !slices.Equal(def, []sortKey{{"vg_name", false}, {"lv_name", false}}) {
		t.Errorf("default lvs sort: got %v, want vg_name,lv_name", def)
	}
	for _, bad := range []string{"nope", "-", "lv_name,"} {
		var fe *FieldError
		if _, err := parseSort(c, KindLV, []string{bad}); !errors.As(err, &fe) {
			t.Errorf("-O %q: got %v, want a FieldError", bad, err)
		}
	}
}

// FuzzFields: any -o value either parses to known fields or fails with a
// one-line FieldError (or ErrHelp); it never panics.
func FuzzFields(f *testing.F) {
	for _, s := range []string{"lv_name,lv_size", "+thin_id", "-origin", "#pool_lv", "lv_all", "help", "name,,size", ""} {
		f.Add(s)
	}
	c := catalogFor(KindLV)
	f.Fuzz(func(t *testing.T, spec string) {
		fields, _, err := parseFields(c, KindLV, strings.Split(spec, " "))
		if err != nil {
			var fe *FieldError
			if !errors.Is(err, ErrHelp) && (!errors.As(err, &fe) || strings.Contains(err.Error(), "\n")) {
				t.Fatalf("-o %q: unexpected error %v", spec, err)
			}
			return
		}
		for _, id := range fields {
			if got, ok := c.canonical(id); !ok || got != id {
				t.Fatalf("-o %q gave unknown field %q", spec, id)
			}
		}
		if _, err := parseSort(c, KindLV, []string{spec}); err != nil {
			var fe *FieldError
			if !errors.Is(err, ErrHelp) && !errors.As(err, &fe) {
				t.Fatalf("-O %q: unexpected error %v", spec, err)
			}
		}
	})
}
