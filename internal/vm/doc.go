// Package vm boots a stock Debian kernel under qemu (TCG) and runs one
// host-built program inside it, as root, with the kernel's device-mapper,
// dm-thin and loop modules loaded. It is how thinraft tests its kernel
// dm.Control on machines whose own kernel has no device-mapper; cmd/vmtest
// is the command-line front end.
//
// Imports: the standard library and github.com/cavaliergopher/cpio. It
// runs host tools (qemu-system-x86_64, xz for the kernel image and .ko.xz
// modules) and reads /boot, /lib/modules and busybox-static's binary.
//
// Design. The guest is the layout measured in docs/vmtest.md: an initramfs
// with busybox, a generated /init and the modules in dependency order
// (insmod resolves nothing); /init mounts the host's root read-only over
// virtio-9p and a per-run writable work directory, chroots into the host
// root and runs the program there, so the program sees the host's binaries
// (thin_check and friends) and its package directory (testdata) at the
// same paths. The program's exit status comes back as a marker line on the
// serial console, which is streamed to the caller as it arrives.
//
// Costly artefacts are cached under the cache directory (the repository's
// .vmbench/), keyed by kernel version and content: the uncompressed PVH
// vmlinux (booting it instead of the bzImage halves a cycle under TCG) and
// the base initramfs. Per-run files live in a temporary work directory that
// is removed afterwards; qemu is killed at the hard timeout.
package vm
