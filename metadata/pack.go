package metadata

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Packed entries: group commit. Raft writes and replicates a log entry in
// one disk write per node however many commands it carries, and at a steady
// rate most entries would otherwise carry one command. So the leader's
// proposer (cluster/raftnode) packs the commands waiting while an earlier
// entry is in flight into one entry, and the FSM applies them in order as
// if each had its own entry, with one difference: they share the entry's
// index, so the intents they create are named "<index>.<position>-<n>"
// instead of "<index>-<n>" (the part before the dash, the operation id,
// names one command's intents).
//
// Layout: packMagic, uvarint count, then per command a uvarint length and
// the command's bytes. A command is a JSON object, so an unpacked entry
// never starts with packMagic and old logs read as before. A node that
// predates packing refuses packed entries as malformed, so every voter of
// a cluster must run a version that knows them (docs/raft.md).
const packMagic = 0xB7

// maxPacked bounds the commands one packed entry may claim, so a corrupt
// count cannot make Unpack allocate without end.
const maxPacked = 1 << 16

// PackCommands returns one log entry carrying cmds in order. Callers send a
// lone command unpacked.
func PackCommands(cmds [][]byte) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, c := range cmds {
		n += binary.MaxVarintLen64 + len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, packMagic)
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

// IsPacked reports whether a log entry's data is a packed entry.
func IsPacked(data []byte) bool { return len(data) > 0 && data[0] == packMagic }

var errPacked = errors.New("malformed packed entry")

// UnpackCommands splits a packed entry into its commands (sub-slices of
// data). Any inconsistency is an error: the entry is refused whole.
func UnpackCommands(data []byte) ([][]byte, error) {
	if !IsPacked(data) {
		return nil, fmt.Errorf("%w: no pack marker", errPacked)
	}
	rest := data[1:]
	count, k := binary.Uvarint(rest)
	if k <= 0 || count == 0 || count > maxPacked {
		return nil, fmt.Errorf("%w: bad command count", errPacked)
	}
	rest = rest[k:]
	cmds := make([][]byte, 0, count)
	for range count {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) {
			return nil, fmt.Errorf("%w: command %d overruns the entry", errPacked, len(cmds))
		}
		rest = rest[k:]
		cmds = append(cmds, rest[:l:l])
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errPacked, len(rest))
	}
	return cmds, nil
}

// Results is the FSM's answer to a packed entry: one *Result per command,
// in the entry's order.
type Results []*Result

// Responses gives each command's answer to the proposer that packed them
// (cluster/raftnode's MultiResponse).
func (rs Results) Responses() []any {
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}
