package metadata

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// readSnapshot parses the snapshot format into a new state, rebuilding
// every index and checking the model's invariants, so a damaged or
// truncated snapshot is refused rather than half-restored.
func readSnapshot(r io.Reader, historyCap int) (*state, error) {
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("metadata: restore: %w", err)
	}
	defer zr.Close()
	dec := json.NewDecoder(zr)
	dec.DisallowUnknownFields()
	st := newState(historyCap)
	b := &builder{st: st}
	records := 0
	for {
		var rec snapRecord
		if err := dec.Decode(&rec); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("metadata: restore: truncated snapshot after %d records (no end record)", records)
			}
			return nil, fmt.Errorf("metadata: restore: record %d: %w", records+1, err)
		}
		if rec.End != nil {
			if rec.End.Records != records {
				return nil, fmt.Errorf("metadata: restore: end record counts %d records, read %d", rec.End.Records, records)
			}
			break
		}
		records++
		if err := b.add(rec, records); err != nil {
			return nil, fmt.Errorf("metadata: restore: record %d: %w", records, err)
		}
	}
	if err := b.finish(); err != nil {
		return nil, fmt.Errorf("metadata: restore: %w", err)
	}
	return st, nil
}

type builder struct {
	st     *state
	header *snapHeader
	counts snapHeader
}

func (b *builder) add(rec snapRecord, n int) error {
	st := b.st
	if n == 1 {
		if rec.Header == nil {
			return fmt.Errorf("first record is not a header")
		}
		h := rec.Header
		// Version 1 is version 2 without request records.
		if h.Format != SnapshotFormat || h.Version < 1 || h.Version > SnapshotVersion {
			return fmt.Errorf("format %q version %d: this build reads %q versions 1 to %d", h.Format, h.Version, SnapshotFormat, SnapshotVersion)
		}
		b.header = h
		st.index = h.Index
		return nil
	}
	switch {
	case rec.Request != nil:
		return b.addRequest(rec.Request)
	case rec.Node != nil:
		nd := rec.Node
		if _, dup := st.nodes[nd.ID]; dup {
			return fmt.Errorf("node %s twice", nd.ID)
		}
		if _, dup := st.nodeNames[nd.Name]; dup {
			return fmt.Errorf("node name %s twice", nd.Name)
		}
		st.nodes[nd.ID] = nd
		st.nodeNames[nd.Name] = nd.ID
		b.counts.Nodes++
	case rec.VG != nil:
		if _, dup := st.vgs[rec.VG.Name]; dup {
			return fmt.Errorf("VG %s twice", rec.VG.Name)
		}
		st.addVG(rec.VG)
		b.counts.VGs++
	case rec.Pool != nil:
		p := rec.Pool
		e := st.vgs[p.VG]
		switch {
		case validateUUID("pool", p.UUID) != nil:
			return fmt.Errorf("pool %q: malformed uuid", p.UUID)
		case e == nil:
			return fmt.Errorf("pool %s: VG %s missing", p.UUID, p.VG)
		case st.nodes[p.Node] == nil:
			return fmt.Errorf("pool %s: node %s missing", p.UUID, p.Node)
		case st.pools[p.UUID] != nil:
			return fmt.Errorf("pool %s twice", p.UUID)
		}
		if err := nameFree(e, p.Name); err != nil {
			return err
		}
		st.addPool(p)
		b.counts.Pools++
	case rec.Volume != nil:
		v := rec.Volume
		e := st.vgs[v.VG]
		pe := st.pools[v.Pool]
		switch {
		case validateUUID("volume", v.UUID) != nil:
			return fmt.Errorf("volume %q: malformed uuid", v.UUID)
		case e == nil:
			return fmt.Errorf("volume %s: VG %s missing", v.UUID, v.VG)
		case pe == nil || pe.pool.VG != v.VG:
			return fmt.Errorf("volume %s: pool %s missing from VG %s", v.UUID, v.Pool, v.VG)
		case st.volumes.get(v.UUID) != nil:
			return fmt.Errorf("volume %s twice", v.UUID)
		}
		if err := nameFree(e, v.Name); err != nil {
			return err
		}
		if v.ThinID != 0 {
			if err := reserveThin(pe, v.ThinID, v.UUID); err != nil {
				return err
			}
		}
		st.addVolume(v)
		b.counts.Volumes++
	case rec.Intent != nil:
		if err := b.addIntent(rec.Intent); err != nil {
			return err
		}
		b.counts.Intents++
	default:
		return fmt.Errorf("empty or unexpected record")
	}
	return nil
}

func reserveThin(pe *poolEntry, id uint32, uuid string) error {
	if id > MaxThinID {
		return fmt.Errorf("thin id %d out of range", id)
	}
	if owner, used := pe.thins[id]; used && owner != keyOf(uuid) {
		return fmt.Errorf("pool %s: thin id %d belongs to %s and %s", pe.pool.UUID, id, owner.String(), uuid)
	}
	pe.thins[id] = keyOf(uuid)
	return nil
}

func (b *builder) addIntent(in *Intent) error {
	st := b.st
	if _, dup := st.intents[in.ID]; dup {
		return fmt.Errorf("intent %s twice", in.ID)
	}
	if in.State != IntentPending {
		st.intents[in.ID] = in
		st.finished = append(st.finished, in.ID)
		return nil
	}
	pe := st.pools[in.Pool]
	if pe == nil {
		return fmt.Errorf("pending intent %s: pool %s missing", in.ID, in.Pool)
	}
	if want := pe.pool.TxnID + uint64(len(pe.queue)); in.FromTxn != want {
		return fmt.Errorf("pending intent %s: from txn %d, its queue position gives %d", in.ID, in.FromTxn, want)
	}
	if st.volumes.get(in.Volume) == nil {
		return fmt.Errorf("pending intent %s: volume %s missing", in.ID, in.Volume)
	}
	if in.Op != OpDelete {
		if err := reserveThin(pe, in.ThinID, in.Volume); err != nil {
			return err
		}
	}
	pe.queue = append(pe.queue, in)
	st.intents[in.ID] = in
	return nil
}

func (b *builder) finish() error {
	h := b.header
	if h == nil {
		return fmt.Errorf("empty snapshot")
	}
	c := b.counts
	if c.Nodes != h.Nodes || c.VGs != h.VGs || c.Pools != h.Pools || c.Volumes != h.Volumes || c.Intents != h.Intents || c.Requests != h.Requests {
		return fmt.Errorf("header counts nodes/vgs/pools/volumes/intents/requests %d/%d/%d/%d/%d/%d, read %d/%d/%d/%d/%d/%d",
			h.Nodes, h.VGs, h.Pools, h.Volumes, h.Intents, h.Requests, c.Nodes, c.VGs, c.Pools, c.Volumes, c.Intents, c.Requests)
	}
	st := b.st
	for len(st.finished) > st.historyCap {
		delete(st.intents, st.finished[0])
		st.finished = st.finished[1:]
	}
	return nil
}

// addRequest restores a remembered idempotency key; keys come oldest first.
func (b *builder) addRequest(e *requestEntry) error {
	if b.header.Version < 2 {
		return fmt.Errorf("request record in a version %d snapshot", b.header.Version)
	}
	if err := validateRequestKey(e.Key); err != nil || e.Key == "" {
		return fmt.Errorf("request key %q invalid", e.Key)
	}
	t := &b.st.requests
	if _, dup := t.lookup(e.Key); dup {
		return fmt.Errorf("request key %s twice", e.Key)
	}
	if _, ok := typeCode(e.Type); !ok {
		return fmt.Errorf("request key %s has an unknown command type %q", e.Key, e.Type)
	}
	if e.Result.Err != nil {
		return fmt.Errorf("request key %s remembers a refusal; only successes are kept", e.Key)
	}
	b.counts.Requests++
	t.add(e.Key, e.Type, e.At, &e.Result)
	return nil
}
