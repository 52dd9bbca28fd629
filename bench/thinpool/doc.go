// Package thinpool is the control-plane benchmark of issue 4: thin create,
// snapshot and delete rates through thinpool's transaction protocol, on the
// userspace engine and on the real kernel in qemu, against LVM's lvcreate
// -V -T, lvcreate -s and lvremove run in the same VM on the same kind of
// pool. Results go to bench/results/thinpool.json as rates and ratios
// (thinraft rate / LVM rate; the goal is >= 50).
//
// It runs as a test binary so that the VM runner can boot it: `make
// bench-thinpool` runs the kernel half in the VM (printing one JSON line
// with a marker on the console) and the engine half on the host, which
// merges both into the results file. Without its flags the package only
// runs its unit tests.
//
// Imports: dm, dm/emu, dm/kernel, thinpool and the standard library.
package thinpool
