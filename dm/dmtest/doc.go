// Package dmtest is the shared test environment of every package that runs
// on both dm.Control implementations: an engine-selection flag, an Env that
// owns backing devices (sparse files on the userspace engine, loop devices
// over sparse files on the kernel), growing them, restarting the control as
// a crashed process would, the dm-thin module's no_space_timeout, and an
// independent check of a pool's metadata with the thin-provisioning-tools.
//
// Imports: the standard library, thinraft's dm, dm/emu and dm/kernel. It is
// imported only by tests (dm/conformance, thinpool and the layers above);
// production code never imports it.
//
// Design. The same test runs on either engine and must see the same
// semantics; only the things no dm.Control can express differ, and they are
// all here. Restart is the one place crash semantics are defined: on the
// userspace engine it drops every in-memory state (emu.Engine.Crash) and
// opens a new engine on the same directory, which is a reboot of a machine
// whose disks survive; on the kernel it closes and reopens the control node,
// and the kernel's devices, tables and pools stay, as on a real host after
// the managing process died. Backing devices an Env attached are detached by
// its Close; devices it did not attach (a child process reusing its
// parent's loop devices) are never touched.
package dmtest
