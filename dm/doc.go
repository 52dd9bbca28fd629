// Package dm is thinraft's device-mapper layer: the Control interface that
// every other package uses to reach dm-thin, the typed tables (thin-pool,
// thin, linear), the exact parsers and formatters of the thin-pool and thin
// status lines and of pool messages, the typed errors both implementations
// return, and the MetadataDump model of a pool's mappings (thin_dump's XML).
//
// Implementations live in sub-packages: dm/kernel (DM ioctls on
// /dev/mapper/control, loop devices) and dm/emu (the userspace engine, a Go
// implementation of the thin-pool and thin targets). dm/conformance holds
// the one suite both must pass.
//
// Design. Control mirrors the kernel's own interface rather than a
// higher-level one (no "create pool" call): the transaction protocol in
// thinpool must reason about exactly the steps the kernel takes (message,
// set_transaction_id, commit points), and the userspace engine is only
// trustworthy if it is driven through the same steps and checked against the
// kernel by the same tests. Everything a kernel reports as text (status,
// tables, messages) is parsed here, strictly, and fuzzed.
//
// Imports: the standard library and golang.org/x/sys only. Nothing in
// thinraft is imported by dm; dm/kernel and dm/emu import dm.
package dm
