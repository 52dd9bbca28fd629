package metadata

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/hashicorp/raft"
)

// Snapshot format: a gzip stream of JSON lines, one object per line, each
// with exactly one key naming the record kind:
//
//	{"header":{"format":"thinraft-metadata","version":1,"index":N,...}}
//	{"node":{...}}      sorted by id
//	{"vg":{...}}        sorted by name
//	{"pool":{...}}      sorted by VG, name
//	{"volume":{...}}    sorted by VG, name
//	{"intent":{...}}    finished ones oldest first, then each pool's queue in order
//	{"request":{...}}   remembered idempotency keys, oldest first (version 2)
//	{"end":{"records":M}}
//
// The same bytes are a backup (zcat | jq works). Equal states give equal
// bytes: that is how replicas are compared in tests.
const (
	SnapshotFormat  = "thinraft-metadata"
	SnapshotVersion = 2
)

type snapHeader struct {
	Format        string `json:"format"`
	Version       int    `json:"version"`
	Index         uint64 `json:"index"`
	IntentHistory int    `json:"intent_history"`
	Nodes         int    `json:"nodes"`
	VGs           int    `json:"vgs"`
	Pools         int    `json:"pools"`
	Volumes       int    `json:"volumes"`
	Intents       int    `json:"intents"`
	Requests      int    `json:"requests,omitempty"`
}

type snapEnd struct {
	Records int `json:"records"`
}

type snapRecord struct {
	Header  *snapHeader   `json:"header,omitempty"`
	Node    *Node         `json:"node,omitempty"`
	VG      *VG           `json:"vg,omitempty"`
	Pool    *Pool         `json:"pool,omitempty"`
	Volume  *Volume       `json:"volume,omitempty"`
	Intent  *Intent       `json:"intent,omitempty"`
	Request *requestEntry `json:"request,omitempty"`
	End     *snapEnd      `json:"end,omitempty"`
}

// Snapshot is a point-in-time copy of the model, detached from the FSM: it
// is raft's FSMSnapshot and a backup source.
type Snapshot struct {
	index      uint64
	historyCap int
	nodes      []Node
	vgs        []VG
	pools      []Pool
	volumes    []Volume
	// intents: finished (history order), then pending per pool in queue
	// order, pools in the order of the pools slice after sorting.
	finished []Intent
	pending  map[string][]Intent
	requests []reqSpan
}

var _ raft.FSMSnapshot = (*Snapshot)(nil)

// Snapshot copies the state under the read lock. The copy is of values
// only: the slices inside them (tags, findings) are never edited in place
// by Apply, so sharing them is safe. Sorting and encoding happen later, in
// Persist, without the lock.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return f.snapshot(), nil
}

func (f *FSM) snapshot() *Snapshot {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := f.st
	sn := &Snapshot{index: s.index, historyCap: s.historyCap,
		nodes: make([]Node, 0, len(s.nodes)), vgs: make([]VG, 0, len(s.vgs)), pools: make([]Pool, 0, len(s.pools)),
		volumes: make([]Volume, 0, s.volumes.len()), finished: make([]Intent, 0, len(s.finished)),
		pending: make(map[string][]Intent)}
	for _, n := range s.nodes {
		sn.nodes = append(sn.nodes, *n)
	}
	for _, e := range s.vgs {
		sn.vgs = append(sn.vgs, *e.vg)
	}
	for _, pe := range s.pools {
		sn.pools = append(sn.pools, *pe.pool)
		if len(pe.queue) > 0 {
			q := make([]Intent, len(pe.queue))
			for i, in := range pe.queue {
				q[i] = *in
			}
			sn.pending[pe.pool.UUID] = q
		}
	}
	s.volumes.each(func(v *Volume) { sn.volumes = append(sn.volumes, *v) })
	for _, id := range s.finished {
		sn.finished = append(sn.finished, *s.intents[id])
	}
	sn.requests = s.requests.live()
	return sn
}

// Index is the Raft index the snapshot was taken at.
func (sn *Snapshot) Index() uint64 { return sn.index }

// Persist writes the snapshot to sink, cancelling it on error.
func (sn *Snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sn.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release is a no-op: the snapshot holds no resources.
func (sn *Snapshot) Release() {}

// WriteTo writes the snapshot format to w.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	slices.SortFunc(sn.nodes, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(sn.vgs, func(a, b VG) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(sn.pools, func(a, b Pool) int { return cmp.Or(cmp.Compare(a.VG, b.VG), cmp.Compare(a.Name, b.Name)) })
	slices.SortFunc(sn.volumes, func(a, b Volume) int { return cmp.Or(cmp.Compare(a.VG, b.VG), cmp.Compare(a.Name, b.Name)) })
	nIntents := len(sn.finished)
	for _, q := range sn.pending {
		nIntents += len(q)
	}
	nRequests := 0
	for _, span := range sn.requests {
		nRequests += len(span.ents)
	}
	cw := &countWriter{w: w}
	zw, err := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(zw, 1<<16)
	sw := &snapWriter{enc: json.NewEncoder(bw)}
	sw.put(snapRecord{Header: &snapHeader{Format: SnapshotFormat, Version: SnapshotVersion, Index: sn.index,
		IntentHistory: sn.historyCap, Nodes: len(sn.nodes), VGs: len(sn.vgs), Pools: len(sn.pools),
		Volumes: len(sn.volumes), Intents: nIntents, Requests: nRequests}})
	for i := range sn.nodes {
		sw.put(snapRecord{Node: &sn.nodes[i]})
	}
	for i := range sn.vgs {
		sw.put(snapRecord{VG: &sn.vgs[i]})
	}
	for i := range sn.pools {
		sw.put(snapRecord{Pool: &sn.pools[i]})
	}
	for i := range sn.volumes {
		sw.put(snapRecord{Volume: &sn.volumes[i]})
	}
	for i := range sn.finished {
		sw.put(snapRecord{Intent: &sn.finished[i]})
	}
	for _, p := range sn.pools {
		q := sn.pending[p.UUID]
		for i := range q {
			sw.put(snapRecord{Intent: &q[i]})
		}
	}
	for _, span := range sn.requests {
		for i := range span.ents {
			e := span.entry(i)
			sw.put(snapRecord{Request: &e})
		}
	}
	sw.put(snapRecord{End: &snapEnd{Records: sw.records}})
	err = cmp.Or(sw.err, bw.Flush(), zw.Close())
	if err != nil {
		return cw.n, fmt.Errorf("metadata: write snapshot: %w", err)
	}
	return cw.n, nil
}

// snapWriter encodes records until the first error, which it keeps.
type snapWriter struct {
	enc     *json.Encoder
	records int
	err     error
}

func (w *snapWriter) put(r snapRecord) {
	if w.err == nil {
		w.err = w.enc.Encode(r)
		w.records++
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Restore replaces the state with the snapshot read from rc. The new state
// is built and checked aside and swapped in under the lock at the end, so
// readers see either the old state or the new one; on error the old state
// stays.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readSnapshot(rc, f.opts.IntentHistory)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.st = st
	wake := f.notifyLocked()
	f.mu.Unlock()
	wake()
	return nil
}
