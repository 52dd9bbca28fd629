// Command vmtest runs a Go package's tests inside a qemu guest booted from
// the host's stock Debian kernel, as root, with device-mapper, dm-thin and
// loop available — the real-kernel stage of thinraft's tests.
//
//	go run ./cmd/vmtest [-timeout 9m] [-mem 1024] [-smp 2] PKG [-- test binary args]
//	go run ./cmd/vmtest -check-deps
//
// It builds `CGO_ENABLED=0 go test -c` of PKG on the host, boots the guest
// (internal/vm), runs the test binary in PKG's directory with the given
// arguments (-test.v, -test.run ..., flags of the package), streams the
// guest console, prints a summary line and exits with the test binary's
// status (124 on timeout, 3 when the VM itself failed). -check-deps prints
// the one apt-get command that installs missing prerequisites and exits 2
// if anything is missing.
//
// Imports: the standard library and internal/vm.
package main
