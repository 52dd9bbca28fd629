// Package emu is thinraft's userspace device-mapper engine: the thin-pool,
// thin and linear targets implemented in Go behind dm.Control, so that the
// whole system runs (and is tested) where the kernel has no device-mapper.
// It may import the standard library, golang.org/x/sys and thinraft's dm
// package, nothing else of thinraft.
//
// Design. The engine mirrors the kernel's objects one to one: an Engine is
// dm core (named devices, live and inactive tables, suspend/resume, open
// counts, events); a pool is the kernel's struct pool, shared by every table
// naming the same metadata file and outliving reloads; poolTarget and
// thinTarget are pool_c and thin_c, with the kernel's constructor checks,
// preresume resizing, modes (write, out-of-data-space, out-of-metadata-
// space, read-only, fail), messages, status text and errnos. Behaviour that
// the conformance suite can observe is taken from Linux 6.1's dm-thin.c and
// dm-thin-metadata.c and must match the kernel; where it cannot (the engine
// is not a block layer) docs/engine.md says so.
//
// Metadata lives in memory (meta): per thin device a map of 128-block chunks
// of packed (data block, time) mappings, chunks shared copy-on-write between
// snapshots like btree leaves, and a reference count per data block. Every
// change is also appended to a pending journal record. A commit (after each
// message, on flush, on suspend and status, and every CommitPeriod) makes
// the data file durable, then writes that record into the metadata file at a
// block the previous record announced, and fdatasyncs it; compaction encodes
// a checkpoint of a captured commit on another goroutine and a later commit
// writes it and flips one of two superblocks (store.go, record.go,
// checkpoint.go, bgckpt.go), so no commit pays for encoding the whole state.
// A crash therefore loses exactly the uncommitted changes. A metadata
// snapshot (reserve_metadata_snap) holds the current checkpoint and journal
// records where they are, kept allocated until its release (held.go).
// Blocks freed in a transaction are not reused before it commits, so the
// committed mappings never see overwritten data. The kernel's metadata block
// usage is modelled separately (space.go) for the status line.
//
// Data IO goes straight to the data file with pread/pwrite: a mapped,
// unshared block needs only a read lock and a map lookup; provisioning and
// copy-on-write hold the write lock only around allocation and insertion.
// The whole blocks of one request that need new blocks are provisioned as
// a run (provision.go): allocated together, written with one pwrite per
// contiguous stretch, never copied or zeroed, as the kernel remaps a bio
// that overwrites a whole block. docs/engine.md has the performance notes.
package emu
