package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/thinraft/thinraft/metadata"
)

func TestValidOpID(t *testing.T) {
	for id, want := range map[string]bool{
		"12": true, "12.0": true, "12.3": true, "": false, "x": false, "12.": false, ".3": false,
		"12.3.4": false, "-1": false, "12-0": false, "12.x": false,
	} {
		if got := validOpID(id); got != want {
			t.Errorf("validOpID(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestOperationOfPackedEntry: commands packed into one log entry share its
// index, and each still has an operation of its own intents only.
func TestOperationOfPackedEntry(t *testing.T) {
	f := metadata.New(metadata.Options{})
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	idx := uint64(0)
	apply := func(data []byte) any {
		idx++
		return f.ApplyBatch([]*raft.Log{{Index: idx, Type: raft.LogCommand, Data: data}})[0]
	}
	enc := func(typ metadata.CommandType, p any) []byte {
		b, err := metadata.Encode(typ, at, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const pool = "00000000-0000-4000-8000-00000000000a"
	for _, c := range [][]byte{
		enc(metadata.CmdNodeJoin, metadata.NodeJoin{ID: "n1", Addr: "127.0.0.1:1", APIAddr: "127.0.0.1:2", Voter: true}),
		enc(metadata.CmdVGCreate, metadata.VGCreate{Name: "vg0", UUID: "00000000-0000-4000-8000-000000000001"}),
		enc(metadata.CmdPoolAdd, metadata.PoolAdd{UUID: pool, VG: "vg0", Name: "pool0", Node: "n1", ChunkSectors: 128, DataBytes: 1 << 30, MetaBytes: 64 << 20}),
	} {
		if r := apply(c).(*metadata.Result); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	var cmds [][]byte
	for i := range 3 {
		cmds = append(cmds, enc(metadata.CmdVolumeCreate, metadata.VolumeCreate{UUID: fmt.Sprintf("00000000-0000-4000-8000-00000000010%d", i),
			VG: "vg0", Name: fmt.Sprintf("v%d", i), Pool: pool, SizeBytes: 1 << 20}))
	}
	rs := apply(metadata.PackCommands(cmds)).(metadata.Results)
	f.Read(func(v metadata.View) {
		if _, ok := operationOf(v, fmt.Sprint(idx)); ok {
			t.Errorf("operation %d (the packed entry's index) exists; it names no one command", idx)
		}
		for i, r := range rs {
			if r.Err != nil {
				t.Fatalf("create v%d: %v", i, r.Err)
			}
			id := opID(r)
			if want := fmt.Sprintf("%d.%d", idx, i); id != want {
				t.Fatalf("create v%d: operation %q, want %q", i, id, want)
			}
			op, ok := operationOf(v, id)
			if !ok || len(op.Intents) != 1 || op.Intents[0].ID != r.Intents[0] {
				t.Fatalf("operation %s: %+v, want only its own intent %s", id, op, r.Intents[0])
			}
		}
	})
}
