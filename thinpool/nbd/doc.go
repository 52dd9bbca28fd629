// Package nbd serves thin volumes (any dm.BlockDevice, on either engine)
// over the NBD protocol, so that real clients — qemu-io, qemu-img, nbdcopy,
// nbdinfo, the kernel's nbd-client — read and write them.
//
// Imports: dm, thinpool (only in pool.go, to build an Export from a thin
// volume) and the standard library. Nothing in thinraft below the export
// layer imports it.
//
// Design. No Go library speaks the parts of NBD a thin volume needs (FLUSH,
// TRIM, WRITE_ZEROES, BLOCK_STATUS), so this package implements the server
// side of the protocol itself, from the public protocol description:
// fixed newstyle handshake (EXPORT_NAME, INFO, GO, LIST, ABORT,
// STRUCTURED_REPLY, LIST/SET_META_CONTEXT for base:allocation), then the
// transmission phase with simple or structured replies as negotiated.
// Everything that parses client bytes is a pure function in proto.go and
// fuzzed, and a whole session is fuzzed too (fuzz_test.go).
//
// Many exports, one listener. A Server asks a Source for the export a
// client names (EXPORT_NAME, INFO, GO, meta contexts) and for the list
// NBD_OPT_LIST shows; NewServer wraps one Export (also the default, empty
// name), and Set is a Source whose exports come and go while the server
// runs (the node agent's activated volumes, with aliases). An unknown name
// gets NBD_REP_ERR_UNKNOWN, or a closed connection for EXPORT_NAME, which
// cannot be refused otherwise. The serving state of an export — the range
// lock its connections share, the connections themselves — lives in the
// Export, so Export.Stop ends exactly its connections (finishing their
// requests and flushing, like Server.Shutdown) and Export.Clients/OnClients
// tell whether anyone has it open. A connection's size is the device's at
// the end of its handshake: NBD cannot announce a resize, so a client sees
// a grown volume on its next connection.
//
// A connection has one reader goroutine that parses requests (and reads
// write payloads) and hands each to its own goroutine, bounded by a
// request count and a payload-byte budget, so a slow client cannot make the
// server buffer without limit. Replies go through one mutex-guarded writer,
// each reply written whole, so replies are serialised but may complete out
// of order, as the protocol allows.
//
// The block device takes only 512-byte aligned IO; clients may use byte
// granularity. io.go widens unaligned IO to whole sectors (read-modify-write
// for writes) under a range lock shared by all connections of an export, so
// two unaligned writes into one sector never lose each other's bytes.
//
// BLOCK_STATUS (base:allocation) is answered from an Allocation: for a thin
// volume, a Tracker seeded with the volume's mapped ranges read from the
// pool's metadata when the export starts (thinpool.Pool.Mappings) and kept
// current with what this export writes and discards since. Unmapped pool
// blocks are reported as NBD_STATE_HOLE|NBD_STATE_ZERO (a thin device reads
// them as zeros); anything the tracker is not sure about is reported as
// data, which is always safe.
package nbd
