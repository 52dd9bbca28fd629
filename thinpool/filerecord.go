package thinpool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// ErrIntentConflict: Begin found another intent pending or a different
// transaction id than the intent expects.
var ErrIntentConflict = errors.New("intent conflicts with the record")

// compactEvery bounds the log: after this many entries the state is written
// to the snapshot file and the log truncated.
const compactEvery = 1024

// FileRecord is a Record kept in two files: a snapshot of the state (PATH,
// JSON, replaced atomically) and an append-only log of changes since it
// (PATH.log, one JSON line per change, fdatasync'd before the call
// returns). A change costs one small append whatever the number of
// volumes. Every entry carries a sequence number and the snapshot records
// the last one it includes, so a crash between writing a snapshot and
// truncating the log replays nothing twice; a torn last line is the end of
// the log. It is the record of a standalone pool and of the crash tests; the
// cluster replaces it with the Raft record.
type FileRecord struct {
	path string

	mu  sync.Mutex
	st  PoolState // current state (snapshot + replayed log)
	log *os.File
	n   int // entries in the log
}

type snapshotFile struct {
	Seq   uint64
	State PoolState
}

// logEntry is one change; exactly one of its fields besides Seq is set.
type logEntry struct {
	Seq        uint64
	Begin      *Intent     `json:",omitempty"`
	Complete   *Intent     `json:",omitempty"`
	Abandon    *Intent     `json:",omitempty"`
	Quarantine *Finding    `json:",omitempty"`
	Size       *ThinRecord `json:",omitempty"`
	Reason     string      `json:",omitempty"`
}

// NewFileRecord opens the record at path for pool, creating an empty one
// (transaction 0, no thins) if none exists, and replays its log.
func NewFileRecord(path, pool string) (*FileRecord, error) {
	r := &FileRecord{path: path}
	snap := snapshotFile{State: PoolState{Pool: pool}}
	switch b, err := os.ReadFile(path); {
	case errors.Is(err, os.ErrNotExist):
		if err := writeAtomic(path, snap); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("record %s: %w", path, err)
	default:
		if err := json.Unmarshal(b, &snap); err != nil {
			return nil, fmt.Errorf("record %s: corrupt snapshot: %w", path, err)
		}
	}
	r.st = snap.State
	if r.st.Thins == nil {
		r.st.Thins = map[uint32]ThinRecord{}
	}
	seq := snap.Seq
	f, err := os.OpenFile(path+".log", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", path, err)
	}
	good, err := r.replay(f, &seq)
	if err != nil {
		f.Close()
		return nil, err
	}
	// Cut a torn tail so the next append starts on a line of its own.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("record %s: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("record %s: %w", path, err)
	}
	r.log = f
	r.st.seq = seq
	return r, nil
}

// replay applies the log's complete entries newer than *seq and returns the
// offset after the last good line.
func (r *FileRecord) replay(f *os.File, seq *uint64) (int64, error) {
	rd := bufio.NewReader(f)
	var off int64
	for {
		line, err := rd.ReadBytes('\n')
		if err == io.EOF {
			return off, nil // a partial line without '\n' is a torn append
		}
		if err != nil {
			return 0, fmt.Errorf("record %s.log: %w", r.path, err)
		}
		var e logEntry
		if jerr := json.Unmarshal(bytes.TrimSpace(line), &e); jerr != nil {
			return off, nil // torn or garbage: the log ends here
		}
		off += int64(len(line))
		r.n++
		if e.Seq <= *seq {
			continue // already in the snapshot
		}
		if err := r.st.apply(e); err != nil {
			return 0, fmt.Errorf("record %s.log: entry %d: %w", r.path, e.Seq, err)
		}
		*seq = e.Seq
	}
}

// Close closes the log file.
func (r *FileRecord) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.Close()
}

// Load returns the recorded state.
func (r *FileRecord) Load(context.Context) (PoolState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.clone(), nil
}

// commit validates e against the current state, makes it durable and
// applies it.
func (r *FileRecord) commit(e logEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.st.clone()
	e.Seq = r.st.seq + 1
	if err := next.apply(e); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := r.log.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	if err := r.log.Sync(); err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	next.seq = e.Seq
	r.st = next
	r.n++
	if r.n >= compactEvery {
		if err := r.compact(); err != nil {
			return err
		}
	}
	return nil
}

// compact writes the state as the new snapshot and empties the log.
func (r *FileRecord) compact() error {
	if err := writeAtomic(r.path, snapshotFile{Seq: r.st.seq, State: r.st}); err != nil {
		return err
	}
	if err := r.log.Truncate(0); err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	if _, err := r.log.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	r.n = 0
	return r.log.Sync()
}

func writeAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("record %s: %w", path, err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("record %s: %w", path, werr)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("record %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("record %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("record %s: %w", path, err)
	}
	return nil
}

// Begin records in as pending.
func (r *FileRecord) Begin(_ context.Context, in Intent) error {
	return r.commit(logEntry{Begin: &in})
}

// Complete applies in and clears it; completing an already applied intent
// is a no-op.
func (r *FileRecord) Complete(_ context.Context, in Intent) error {
	r.mu.Lock()
	done := (r.st.Pending == nil || r.st.Pending.ID != in.ID) && r.st.TxnID >= in.ToTxn()
	r.mu.Unlock()
	if done {
		return nil
	}
	return r.commit(logEntry{Complete: &in})
}

// Abandon clears in without applying it.
func (r *FileRecord) Abandon(_ context.Context, in Intent, reason string) error {
	return r.commit(logEntry{Abandon: &in, Reason: reason})
}

// Quarantine appends f unless an identical finding is already recorded.
func (r *FileRecord) Quarantine(_ context.Context, f Finding) error {
	r.mu.Lock()
	for _, q := range r.st.Quarantined {
		if q == f {
			r.mu.Unlock()
			return nil
		}
	}
	r.mu.Unlock()
	return r.commit(logEntry{Quarantine: &f})
}

// SetThinSize records a new virtual size for thin id.
func (r *FileRecord) SetThinSize(_ context.Context, id uint32, sizeSectors uint64) error {
	return r.commit(logEntry{Size: &ThinRecord{ID: id, SizeSectors: sizeSectors}})
}

// apply moves st by one log entry, refusing what the Record contract
// forbids.
func (st *PoolState) apply(e logEntry) error {
	switch {
	case e.Begin != nil:
		in := *e.Begin
		if st.Pending != nil {
			return fmt.Errorf("%w: %s is pending", ErrIntentConflict, *st.Pending)
		}
		if in.FromTxn != st.TxnID {
			return fmt.Errorf("%w: record is at transaction %d, intent starts from %d", ErrIntentConflict, st.TxnID, in.FromTxn)
		}
		switch _, exists := st.Thins[in.ThinID]; {
		case in.Op != OpDelete && exists:
			return fmt.Errorf("%w: thin %d already exists", ErrIntentConflict, in.ThinID)
		case in.Op == OpDelete && !exists:
			return fmt.Errorf("%w: thin %d does not exist", ErrIntentConflict, in.ThinID)
		}
		st.Pending = &in
	case e.Complete != nil:
		in := *e.Complete
		if st.Pending == nil || st.Pending.ID != in.ID {
			return fmt.Errorf("%w: %s is not pending", ErrIntentConflict, in)
		}
		applyIntent(st, in)
	case e.Abandon != nil:
		if st.Pending != nil && st.Pending.ID == e.Abandon.ID {
			st.Pending = nil
		}
	case e.Quarantine != nil:
		st.Quarantined = append(st.Quarantined, *e.Quarantine)
	case e.Size != nil:
		t, ok := st.Thins[e.Size.ID]
		if !ok {
			return fmt.Errorf("thin %d does not exist", e.Size.ID)
		}
		t.SizeSectors = e.Size.SizeSectors
		st.Thins[e.Size.ID] = t
	default:
		return fmt.Errorf("empty log entry")
	}
	return nil
}

// applyIntent moves st past in.
func applyIntent(st *PoolState, in Intent) {
	switch in.Op {
	case OpCreateThin:
		st.Thins[in.ThinID] = ThinRecord{ID: in.ThinID, SizeSectors: in.SizeSectors}
	case OpSnapshot:
		st.Thins[in.ThinID] = ThinRecord{ID: in.ThinID, SizeSectors: in.SizeSectors, Origin: in.Origin, HasOrigin: true}
	case OpDelete:
		delete(st.Thins, in.ThinID)
	}
	st.TxnID = in.ToTxn()
	st.Pending = nil
}

// clone deep-copies st so callers cannot change the record's state.
func (st PoolState) clone() PoolState {
	c := st
	c.Thins = make(map[uint32]ThinRecord, len(st.Thins))
	for id, t := range st.Thins {
		c.Thins[id] = t
	}
	if st.Pending != nil {
		in := *st.Pending
		c.Pending = &in
	}
	c.Quarantined = append([]Finding(nil), st.Quarantined...)
	return c
}
