# thinpool's crash matrix and reconcile tests on the real kernel, in qemu
# (docs/vmtest.md, docs/repair.md). Included by the top-level Makefile;
# `make vmtest` runs it after the dm stages.
#
#   make vmtest-crash   TestCrashMatrix (every operation x failpoint: the
#                       child process exits at the failpoint, the kernel's
#                       devices survive it) and the reconcile tests, with
#                       -thinpool.engine=kernel. About 2.5 minutes under TCG.
#
# The same tests run on the userspace engine in `make unit`.

THINPOOL_CRASH_ARGS ?= -test.run 'TestCrashMatrix$$|TestReconcile' -test.v -test.count=1 -thinpool.engine=kernel

.PHONY: vmtest-crash

vmtest: vmtest-crash

vmtest-crash: vm-deps
	$(VMTEST_BIN) $(VMTEST_FLAGS) ./thinpool -- $(THINPOOL_CRASH_ARGS)
