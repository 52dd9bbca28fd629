// Package nbdclient is a small NBD client: enough of the protocol to read
// and write an export of a thinraft node (thinraft's own `thinraft nbd
// put|get`, the demo, tests) without the kernel's nbd driver or libnbd.
//
// Imports: the standard library only.
//
// Design. The fixed newstyle handshake with NBD_OPT_GO (the export's size
// and flags from NBD_INFO_EXPORT), then the transmission phase with simple
// replies and one request in flight: READ, WRITE (with FUA on request),
// FLUSH and a clean DISC. One request at a time keeps the client obviously
// correct; requests of up to MaxRequest bytes keep it fast enough for what
// it serves (a loopback put of hundreds of MiB takes seconds). Everything
// read from the server is bounds-checked and the reply parsers are fuzzed:
// a server is outside input like any other.
package nbdclient
