package dm

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxThinID is the largest thin device id a pool accepts (24 bits).
const MaxThinID = 1<<24 - 1

// Message verbs of the thin-pool target.
const (
	MsgCreateThin          = "create_thin"
	MsgCreateSnap          = "create_snap"
	MsgDelete              = "delete"
	MsgSetTransactionID    = "set_transaction_id"
	MsgReserveMetadataSnap = "reserve_metadata_snap"
	MsgReleaseMetadataSnap = "release_metadata_snap"
)

// PoolMessage is a parsed thin-pool message. Only the fields of its verb
// are set.
type PoolMessage struct {
	Verb   string // lower case
	ID     uint64 // create_thin, create_snap, delete
	Origin uint64 // create_snap
	OldTxn uint64 // set_transaction_id
	NewTxn uint64 // set_transaction_id
}

// String formats the message as the kernel expects it.
func (m PoolMessage) String() string {
	switch m.Verb {
	case MsgCreateThin, MsgDelete:
		return fmt.Sprintf("%s %d", m.Verb, m.ID)
	case MsgCreateSnap:
		return fmt.Sprintf("%s %d %d", m.Verb, m.ID, m.Origin)
	case MsgSetTransactionID:
		return fmt.Sprintf("%s %d %d", m.Verb, m.OldTxn, m.NewTxn)
	default:
		return m.Verb
	}
}

// CreateThinMsg and friends build the six messages.
func CreateThinMsg(id uint32) string {
	return PoolMessage{Verb: MsgCreateThin, ID: uint64(id)}.String()
}

// CreateSnapMsg builds "create_snap ID ORIGIN".
func CreateSnapMsg(id, origin uint32) string {
	return PoolMessage{Verb: MsgCreateSnap, ID: uint64(id), Origin: uint64(origin)}.String()
}

// DeleteMsg builds "delete ID".
func DeleteMsg(id uint32) string { return PoolMessage{Verb: MsgDelete, ID: uint64(id)}.String() }

// SetTransactionIDMsg builds "set_transaction_id OLD NEW".
func SetTransactionIDMsg(old, new uint64) string {
	return PoolMessage{Verb: MsgSetTransactionID, OldTxn: old, NewTxn: new}.String()
}

// ParseMessage parses a thin-pool message with the kernel's rules: the verb
// is case-insensitive, arguments are split on whitespace, the argument count
// must be exact, ids are decimal (kstrtoull base 10: an optional '+', no
// sign, no hex) and at most MaxThinID, transaction ids are decimal uint64.
// The error says what is wrong; the kernel answers all of these with EINVAL.
func ParseMessage(text string) (PoolMessage, error) {
	argv := strings.Fields(text)
	if len(argv) == 0 {
		return PoolMessage{}, fmt.Errorf("empty message")
	}
	m := PoolMessage{Verb: asciiLower(argv[0])}
	want := map[string]int{
		MsgCreateThin: 2, MsgCreateSnap: 3, MsgDelete: 2, MsgSetTransactionID: 3,
		MsgReserveMetadataSnap: 1, MsgReleaseMetadataSnap: 1,
	}[m.Verb]
	if want == 0 {
		return PoolMessage{}, fmt.Errorf("unrecognised thin pool message %q", argv[0])
	}
	if len(argv) != want {
		return PoolMessage{}, fmt.Errorf("%s takes %d arguments, got %d", m.Verb, want-1, len(argv)-1)
	}
	var err error
	switch m.Verb {
	case MsgCreateThin, MsgDelete:
		m.ID, err = parseThinID(argv[1])
	case MsgCreateSnap:
		if m.ID, err = parseThinID(argv[1]); err == nil {
			m.Origin, err = parseThinID(argv[2])
		}
	case MsgSetTransactionID:
		if m.OldTxn, err = parseKernelUint(argv[1]); err == nil {
			m.NewTxn, err = parseKernelUint(argv[2])
		}
	}
	if err != nil {
		return PoolMessage{}, fmt.Errorf("%s: %w", m.Verb, err)
	}
	return m, nil
}

func parseThinID(s string) (uint64, error) {
	v, err := parseKernelUint(s)
	if err != nil {
		return 0, err
	}
	if v > MaxThinID {
		return 0, fmt.Errorf("device id %s is over the 24-bit limit %d", s, MaxThinID)
	}
	return v, nil
}

// parseKernelUint mirrors kstrtoull(s, 10, ...): optional leading '+', then
// decimal digits, optionally one trailing newline, no overflow.
func parseKernelUint(s string) (uint64, error) {
	d := strings.TrimPrefix(s, "+")
	d = strings.TrimSuffix(d, "\n")
	if d == "" {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("invalid number %q", s)
		}
	}
	v, err := strconv.ParseUint(d, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return v, nil
}
