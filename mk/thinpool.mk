# thinpool on the real kernel, in qemu (docs/vmtest.md, docs/repair.md,
# docs/thinpool.md). Included by the top-level Makefile; `make vmtest` runs it
# after the dm stages. One boot runs the whole package with
# -thinpool.engine=kernel: the crash matrix (every operation x failpoint: the
# child process exits at the failpoint, the kernel's devices survive it), the
# reconcile tests, the fill/autoextend tests, and usage and deltas against
# thin_ls, thin_dump and thin_delta on the same kernel pool.
#
# The same tests run on the userspace engine in `make unit`.

THINPOOL_VM_ARGS ?= -test.v -test.count=1 -thinpool.engine=kernel

.PHONY: vmtest-thinpool

vmtest: vmtest-thinpool

vmtest-thinpool: vm-deps
	$(VMTEST_BIN) $(VMTEST_FLAGS) ./thinpool -- $(THINPOOL_VM_ARGS)
