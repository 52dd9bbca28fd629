package report

import (
	"bytes"
	"encoding/json"
	"testing"
)

// lvmJSON is LVM's report shape: {"report":[{"lv":[{field: value}]}]}.
type lvmJSON = map[string][]map[string][]map[string]any

func parseReport(t *testing.T, data []byte) lvmJSON {
	t.Helper()
	var doc lvmJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("report is not LVM's JSON shape: %v\n%s", err, data)
	}
	return doc
}

func TestJSONShape(t *testing.T) {
	for _, c := range goldenCases() {
		if c.o.Format != FormatJSON && c.o.Format != FormatJSONStd {
			continue
		}
		t.Run(c.file, func(t *testing.T) {
			doc := parseReport(t, c.render(t))
			if len(doc) != 1 || len(doc["report"]) != 1 {
				t.Fatalf("want one report object, got %v", doc)
			}
			rows, ok := doc["report"][0][c.kind.key()]
			if !ok || len(doc["report"][0]) != 1 {
				t.Fatalf("want the report keyed %q only, got keys of %v", c.kind.key(), doc["report"][0])
			}
			fields, err := ParseFields(c.kind, c.o.Fields...)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) == 0 {
				t.Fatal("no rows")
			}
			for _, row := range rows {
				if len(row) != len(fields) {
					t.Errorf("row has %d fields, want %d (%v)", len(row), len(fields), row)
				}
				for _, f := range fields {
					v, ok := row[f]
					if !ok {
						t.Errorf("row lacks field %q", f)
						continue
					}
					if _, isStr := v.(string); c.o.Format == FormatJSON && !isStr {
						t.Errorf("json: field %q is %T (%v), LVM prints every value as a string", f, v, v)
					}
				}
			}
		})
	}
}

// json_std types: numbers bare, undefined numbers null, lists arrays,
// sizes bytes without --units.
func TestJSONStdTypes(t *testing.T) {
	var buf bytes.Buffer
	o := Options{Format: FormatJSONStd, Fields: []string{"lv_name,lv_size,data_percent,thin_id,lv_tags,zero,exclusive_bytes"}}
	if err := LVs(&buf, fixtureLVRows(false), o); err != nil {
		t.Fatal(err)
	}
	rows := parseReport(t, buf.Bytes())["report"][0]["lv"]
	byName := map[string]map[string]any{}
	for _, r := range rows {
		byName[r["lv_name"].(string)] = r
	}
	thin1, pool0 := byName["thin1"], byName["pool0"]
	checks := []struct {
		what string
		got  any
		want string
	}{
		{"thin1 lv_size", thin1["lv_size"], "1099511627776"},
		{"thin1 thin_id", thin1["thin_id"], "1"},
		{"thin1 data_percent", thin1["data_percent"], "0.15"},
		{"thin1 zero", thin1["zero"], "1"},
		{"thin1 exclusive_bytes", thin1["exclusive_bytes"], "1073741824"},
		{"pool0 data_percent", pool0["data_percent"], "26.96"},
	}
	for _, c := range checks {
		n, ok := c.got.(json.Number)
		if !ok || n.String() != c.want {
			t.Errorf("%s: got %#v, want the number %s", c.what, c.got, c.want)
		}
	}
	if pool0["thin_id"] != nil || pool0["exclusive_bytes"] != nil || byName["broken"]["data_percent"] != nil {
		t.Errorf("undefined numbers must be null: pool0 thin_id %v, exclusive_bytes %v, broken data_percent %v",
			pool0["thin_id"], pool0["exclusive_bytes"], byName["broken"]["data_percent"])
	}
	tags, ok := thin1["lv_tags"].([]any)
	if !ok || len(tags) != 2 || tags[0] != "db" || tags[1] != "web" {
		t.Errorf("thin1 lv_tags: got %#v, want [db web]", thin1["lv_tags"])
	}
}

func TestJSONEscaping(t *testing.T) {
	if got := jsonString("a\"b\\c\x01"); got != `"a\"b\\c\u0001"` {
		t.Errorf("jsonString: got %s", got)
	}
}
