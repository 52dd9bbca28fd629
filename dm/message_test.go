package dm

import (
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	cases := []struct {
		in   string
		want PoolMessage
		out  string // String(); "" means in
	}{
		{"create_thin 0", PoolMessage{Verb: MsgCreateThin}, ""},
		{"create_thin 16777215", PoolMessage{Verb: MsgCreateThin, ID: MaxThinID}, ""},
		{"create_snap 1 0", PoolMessage{Verb: MsgCreateSnap, ID: 1}, ""},
		{"delete 42", PoolMessage{Verb: MsgDelete, ID: 42}, ""},
		{"set_transaction_id 0 1", PoolMessage{Verb: MsgSetTransactionID, NewTxn: 1}, ""},
		{"set_transaction_id 18446744073709551614 18446744073709551615",
			PoolMessage{Verb: MsgSetTransactionID, OldTxn: 1<<64 - 2, NewTxn: 1<<64 - 1}, ""},
		{"reserve_metadata_snap", PoolMessage{Verb: MsgReserveMetadataSnap}, ""},
		{"release_metadata_snap", PoolMessage{Verb: MsgReleaseMetadataSnap}, ""},
		// strcasecmp on the verb, whitespace splitting, kstrtoull's '+'
		// and leading zeros.
		{"  CREATE_Snap\t+5   007\n", PoolMessage{Verb: MsgCreateSnap, ID: 5, Origin: 7}, "create_snap 5 7"},
	}
	for _, c := range cases {
		got, err := ParseMessage(c.in)
		if err != nil {
			t.Errorf("ParseMessage(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseMessage(%q) = %+v, want %+v", c.in, got, c.want)
		}
		out := c.out
		if out == "" {
			out = c.in
		}
		if s := got.String(); s != out {
			t.Errorf("String() = %q, want %q", s, out)
		}
	}
}

func TestParseMessageRefuses(t *testing.T) {
	cases := map[string]string{
		"":                          "empty",
		"   ":                       "empty",
		"create":                    "unrecognised",
		"create_thin":               "takes 1 arguments, got 0",
		"create_thin 1 2":           "takes 1 arguments, got 2",
		"create_snap 1":             "takes 2 arguments",
		"delete":                    "takes 1 arguments",
		"set_transaction_id 1":      "takes 2 arguments",
		"reserve_metadata_snap now": "takes 0 arguments",
		"release_metadata_snap 1":   "takes 0 arguments",
		"create_thin 16777216":      "24-bit",
		"create_snap 1 16777216":    "24-bit",
		"create_thin -1":            "invalid number",
		"create_thin 0x10":          "invalid number",
		"create_thin ++1":           "invalid number",
		"create_thin +":             "invalid number",
		"delete 1.0":                "invalid number",
		"set_transaction_id 0 18446744073709551616": "invalid number",
		"set_transaction_id x 1":                    "invalid number",
		// ASCII case folding only, as strcasecmp.
		"delete\u212a 1": "unrecognised",
	}
	for in, want := range cases {
		m, err := ParseMessage(in)
		if err == nil {
			t.Errorf("ParseMessage(%q) accepted: %+v", in, m)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMessage(%q): %q, want %q", in, err, want)
		}
	}
}

func TestMessageBuilders(t *testing.T) {
	for got, want := range map[string]string{
		CreateThinMsg(3):                  "create_thin 3",
		CreateSnapMsg(4, 3):               "create_snap 4 3",
		DeleteMsg(MaxThinID):              "delete 16777215",
		SetTransactionIDMsg(91, 92):       "set_transaction_id 91 92",
		PoolMessage{Verb: "odd"}.String(): "odd",
	} {
		if got != want {
			t.Errorf("built %q, want %q", got, want)
		}
	}
}
