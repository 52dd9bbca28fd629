// Package conformance is the one test suite every dm.Control must pass:
// the userspace engine (dm/emu) in every `make test`, and the real kernel
// (dm/kernel) inside a qemu VM in `make vmtest`. A case that passes on one
// and fails on the other is a bug in the engine (or in thinraft), never a
// reason to special-case the test.
//
// Imports: the standard library, thinraft's dm package and dm/dmtest (the
// shared test environment: backing devices, engines, thin tools), which
// provides both Envs. Nothing imports this package except its own tests.
//
// Design. Cases are data: scripts in testdata/*.txt written in a small
// command language (docs/conformance.md), parsed by lang.go and run by
// runner.go against an Env, which supplies the Control, backing devices,
// the pool module's no_space_timeout and an independent metadata check.
// Every line is one command with its expected outcome inline ("=> EEXIST");
// assertions compare only what is true of dm-thin on every implementation
// (exact transaction ids, modes, data block counts and totals; relations
// for metadata block counts, whose absolute values differ). Each case gets
// its own name prefix and Env; at its end, even after a failure, the runner
// removes every device it made and checks the metadata of every pool it
// activated: thin_check on the kernel's metadata device, and on the engine
// the metadata exported as thin_dump XML, restored with thin_restore and
// thin_checked (the second oracle). Missing thin tools fail the case with
// the install command.
//
// The language, in short (see docs/conformance.md for all of it):
//
//	case NAME                         start a case (subtest FILE/NAME)
//	pool p [meta=4M] [data=64M] [chunk=64k] [lwm=N] [FEATURE...]
//	msg p create_thin 0               a pool message
//	msg p create_thin 0 => EEXIST     ... expected to fail with EEXIST
//	thin t0 p 0 16M                   a thin device of pool p, id 0
//	write t0 0 4k pattern=A           IO; bare numbers are sectors
//	read t0 4k 60k zero
//	status p txn=1 mode=rw data_used=1 meta_used>prev held=-
//	status t0 mapped=128 highest=127
package conformance
