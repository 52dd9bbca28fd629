// Command engine is `make bench` for the userspace engine: it measures a
// thin device of dm/emu against a plain file on the same filesystem, in one
// process, with the same IO patterns, and writes bench/results/engine.json.
//
// Patterns (each run on both sides, byte for byte the same offsets and
// data from one seed): 4 KiB random writes and 1 MiB sequential writes on
// fresh devices, 1 MiB sequential reads and 4 KiB random reads of written
// data, and after a snapshot of the written device the same writes again
// (on the thin side every first write to a shared block is a copy-on-write;
// the plain file just overwrites). Every backing file (the plain files, the
// pool's metadata and data files) is created the same way, by default
// written in full with zeros first, like a device whose blocks all exist
// (-provision sparse|fallocate|written). Both sides use buffered pwrite/pread,
// queue depth 1. Writes are timed with their final flush (fdatasync on the
// file, Flush on the thin device, which also commits the pool's metadata).
// Every pattern runs under two page-cache regimes, both applied to both
// sides alike: warm (the cache as the previous, flushed, pattern left it:
// reads and copy-on-write copies come from memory, so the ratio shows the
// engine's own overhead) and cold (before every timed pattern both sides'
// files are flushed and dropped with posix_fadvise(DONTNEED): reads and
// copy-on-write copies go to the disk). Each pattern is repeated, the
// order of the two sides alternating between repetitions; the ratio of the
// median times is reported, with the per-repetition ratios of the two
// sides run back to back beside it. The goals are judged on the warm
// regime (headline_cache); docs/bench.md explains the choices and the
// results.
//
// It imports dm and dm/emu and nothing else of thinraft. It is a program,
// not a test: timing assertions in unit tests are flaky on shared 2-core
// machines, so the goals (ratio >= 0.70 fresh, >= 0.50 copy-on-write) are
// reported, not enforced.
package main
