package thinpool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// ErrIntentConflict: Begin found another intent pending or a different
// transaction id than the intent expects.
var ErrIntentConflict = errors.New("intent conflicts with the record")

// FileRecord is a Record kept in one JSON file, replaced atomically (write
// to a temporary file, fsync, rename, fsync the directory) on every change.
// It is the record of a standalone pool and of the crash tests; the cluster
// replaces it with the Raft record.
type FileRecord struct {
	path string
	mu   sync.Mutex
}

// NewFileRecord returns the record stored at path for pool, creating an
// empty one (transaction 0, no thins) if the file does not exist.
func NewFileRecord(path, pool string) (*FileRecord, error) {
	r := &FileRecord{path: path}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := r.save(PoolState{Pool: pool, Thins: map[uint32]ThinRecord{}}); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("record %s: %w", path, err)
	}
	return r, nil
}

// Load returns the recorded state.
func (r *FileRecord) Load(context.Context) (PoolState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.load()
}

func (r *FileRecord) load() (PoolState, error) {
	b, err := os.ReadFile(r.path)
	if err != nil {
		return PoolState{}, fmt.Errorf("record %s: %w", r.path, err)
	}
	var st PoolState
	if err := json.Unmarshal(b, &st); err != nil {
		return PoolState{}, fmt.Errorf("record %s: corrupt: %w", r.path, err)
	}
	if st.Thins == nil {
		st.Thins = map[uint32]ThinRecord{}
	}
	return st, nil
}

func (r *FileRecord) save(st PoolState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := r.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	d, err := os.Open(filepath.Dir(r.path))
	if err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	defer d.Close()
	return d.Sync()
}

func (r *FileRecord) update(fn func(*PoolState) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.load()
	if err != nil {
		return err
	}
	if err := fn(&st); err != nil {
		return err
	}
	return r.save(st)
}

// Begin records in as pending.
func (r *FileRecord) Begin(_ context.Context, in Intent) error {
	return r.update(func(st *PoolState) error {
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
		return nil
	})
}

// Complete applies in and clears it; completing an already applied intent
// is a no-op.
func (r *FileRecord) Complete(_ context.Context, in Intent) error {
	return r.update(func(st *PoolState) error {
		if st.Pending == nil || st.Pending.ID != in.ID {
			if st.TxnID >= in.ToTxn() {
				return nil // already applied
			}
			return fmt.Errorf("%w: %s is not pending", ErrIntentConflict, in)
		}
		applyIntent(st, in)
		return nil
	})
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

// Abandon clears in without applying it.
func (r *FileRecord) Abandon(_ context.Context, in Intent, reason string) error {
	return r.update(func(st *PoolState) error {
		if st.Pending != nil && st.Pending.ID == in.ID {
			st.Pending = nil
		}
		return nil
	})
}

// Quarantine appends f unless an identical finding is already recorded.
func (r *FileRecord) Quarantine(_ context.Context, f Finding) error {
	return r.update(func(st *PoolState) error {
		for _, q := range st.Quarantined {
			if q == f {
				return nil
			}
		}
		st.Quarantined = append(st.Quarantined, f)
		return nil
	})
}

// SetThinSize records a new virtual size for thin id.
func (r *FileRecord) SetThinSize(_ context.Context, id uint32, sizeSectors uint64) error {
	return r.update(func(st *PoolState) error {
		t, ok := st.Thins[id]
		if !ok {
			return fmt.Errorf("thin %d does not exist", id)
		}
		t.SizeSectors = sizeSectors
		st.Thins[id] = t
		return nil
	})
}
