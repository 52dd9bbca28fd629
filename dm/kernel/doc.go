// Package kernel implements dm.Control on the Linux kernel's device-mapper
// through raw DM ioctls on /dev/mapper/control (golang.org/x/sys/unix, no
// cgo, no libdevmapper), plus the helpers a test or an agent needs around
// it: loop devices over backing files and the dm_thin_pool module
// parameters.
//
// Imports: the standard library, golang.org/x/sys/unix and thinraft's dm
// package. Nothing else in thinraft is imported here.
//
// Design. Every DM ioctl takes one buffer: a struct dm_ioctl header followed
// by a command-specific data area. ioctl.go packs and unpacks those buffers
// as pure functions over byte slices so that the wire format is unit tested
// on machines without device-mapper; control.go issues the ioctls. The
// interface version sent is 4.0.0: the kernel refuses any minor newer than
// its own (6.1 speaks 4.47, x/sys/unix's constant says 4.50) and reports its
// real version back in the header, which Version returns. When the kernel
// sets DM_BUFFER_FULL_FLAG the call is repeated with a larger buffer, except
// for target messages, whose side effects must not run twice.
//
// Errors: every refused call becomes a *dm.Error carrying the op, the
// device, the raw errno and a kind that depends on the op (EBUSY means
// "name taken" on create but "open" on remove); errors.go holds that table.
// Messages are classified by dm.MessageError, shared with the userspace
// engine, so both engines return identical errors.
//
// Device nodes: there is no udev in the test VM, so Create makes
// /dev/mapper/NAME itself with mknod from the dev_t the kernel returns (when
// the node is missing) and Remove deletes a node it finds pointing at the
// removed device. Open uses O_DIRECT, which needs aligned memory: BlockDevice
// copies through 4096-aligned bounce buffers.
//
// Tests that need a kernel with device-mapper skip on other machines with a
// reason; they run inside qemu through cmd/vmtest.
package kernel
