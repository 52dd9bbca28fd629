package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/thinraft/thinraft/metadata"
)

// restoreResult is the snapshot restore measurement.
type restoreResult struct {
	Node            string  `json:"node"`
	Volumes         int     `json:"volumes"`
	AppliedIndex    uint64  `json:"applied_index"`
	DiskSnapshotIdx uint64  `json:"disk_snapshot_index"`
	ReplayedEntries int     `json:"replayed_log_entries"`
	RebuildS        float64 `json:"rebuild_from_disk_s"`
	SnapshotBytes   int     `json:"snapshot_bytes"`
	PersistS        float64 `json:"snapshot_persist_s"`
	RestoreS        float64 `json:"restore_s"`
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "bench" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }

// measureRestore rebuilds a stopped node's replica from its Raft
// directory as raft would at start (latest snapshot, then the log after
// it), snapshots it, and times the restore of that snapshot into a fresh
// FSM. It checks that the restore re-encodes to the same bytes.
func measureRestore(id, raftDir string, vg string) (*restoreResult, error) {
	res := &restoreResult{Node: id}
	fsm := metadata.New(metadata.Options{})
	t0 := time.Now()
	snaps, err := raft.NewFileSnapshotStore(raftDir, 2, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	metas, err := snaps.List()
	if err != nil {
		return nil, fmt.Errorf("restore: list snapshots: %w", err)
	}
	if len(metas) > 0 {
		_, rc, err := snaps.Open(metas[0].ID)
		if err != nil {
			return nil, fmt.Errorf("restore: open snapshot: %w", err)
		}
		if err := fsm.Restore(rc); err != nil {
			return nil, fmt.Errorf("restore: disk snapshot: %w", err)
		}
		res.DiskSnapshotIdx = metas[0].Index
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(raftDir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("restore: open log: %w", err)
	}
	defer store.Close()
	first, err := store.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := store.LastIndex()
	if err != nil {
		return nil, err
	}
	for i := max(first, res.DiskSnapshotIdx+1); i <= last && i > 0; i++ {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil {
			return nil, fmt.Errorf("restore: log %d: %w", i, err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		if r, ok := fsm.Apply(&l).(*metadata.Result); ok && r == nil {
			return nil, fmt.Errorf("restore: log %d: no result", i)
		}
		res.ReplayedEntries++
	}
	res.RebuildS = time.Since(t0).Seconds()
	res.AppliedIndex = fsm.AppliedIndex()
	res.Volumes = volumeCount(fsm, vg)

	snap, err := fsm.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("restore: snapshot: %w", err)
	}
	var sink memSink
	t0 = time.Now()
	if err := snap.Persist(&sink); err != nil {
		return nil, fmt.Errorf("restore: persist: %w", err)
	}
	snap.Release()
	res.PersistS = time.Since(t0).Seconds()
	res.SnapshotBytes = sink.Len()
	data := sink.Bytes()

	fresh := metadata.New(metadata.Options{})
	t0 = time.Now()
	if err := fresh.Restore(io.NopCloser(bufio.NewReader(bytes.NewReader(data)))); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	res.RestoreS = time.Since(t0).Seconds()
	if got := volumeCount(fresh, vg); got != res.Volumes {
		return nil, fmt.Errorf("restore: %d volumes after restore, %d before", got, res.Volumes)
	}
	again, err := fresh.Snapshot()
	if err != nil {
		return nil, err
	}
	var sink2 memSink
	if err := again.Persist(&sink2); err != nil {
		return nil, err
	}
	if !bytes.Equal(sink2.Bytes(), data) {
		return nil, fmt.Errorf("restore: restored state re-encodes differently")
	}
	return res, nil
}

// volumeCount counts the VG's volumes and snapshots in an FSM by paging.
func volumeCount(f *metadata.FSM, vg string) int {
	n, after := 0, ""
	for {
		vols, next := f.ListVolumes(vg, after, 10000)
		n += len(vols)
		if next == "" {
			return n
		}
		after = next
	}
}

// rssBytes reads VmRSS from /proc/self/status.
func rssBytes() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return vmRSS(b)
}

// vmRSS finds VmRSS in a /proc/<pid>/status text.
func vmRSS(b []byte) (uint64, error) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		var kb uint64
		if _, err := fmt.Sscanf(string(line), "VmRSS: %d kB", &kb); err == nil {
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in a /proc status file")
}
