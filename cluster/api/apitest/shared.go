package apitest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/thinraft/thinraft/cluster/pki"
)

// Secrets are what the members and clients of a throwaway cluster share:
// a fresh CA and a random API token. cluster/node/nodetest uses them too,
// so both harnesses make credentials the same way.
type Secrets struct {
	CA    *pki.CA
	Token string
}

// NewSecrets makes a CA named name, valid for an hour (longer than any
// test), and a random token.
func NewSecrets(t testing.TB, name string) Secrets {
	t.Helper()
	ca, err := pki.NewCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		t.Fatal(err)
	}
	return Secrets{CA: ca, Token: hex.EncodeToString(tok[:])}
}

// logTail bounds what a failing test prints: the end of a run is where
// the failure is, and a whole cluster's debug log would bury it.
const logTail = 64 << 10

// LogBuffer collects the logs of a cluster's nodes, written concurrently,
// for a failing test's output.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// LogIfFailed writes the end of the logs to t's output under title when
// t has failed; harnesses call it last in their cleanup, after the nodes
// stopped, so their shutdown is included.
func (l *LogBuffer) LogIfFailed(t testing.TB, title string) {
	t.Helper()
	if !t.Failed() {
		return
	}
	s := l.String()
	if len(s) > logTail {
		t.Logf("%s (last %d of %d bytes):\n%s", title, logTail, len(s), s[len(s)-logTail:])
		return
	}
	t.Logf("%s:\n%s", title, s)
}
