# The 3-agent cluster on the real kernel, in qemu (docs/vmtest.md,
# docs/agent.md). Included by the top-level Makefile; part of `make vmtest`.
#
#   make vmtest-cluster   TestClusterKernelScenario with -cluster.engine=kernel:
#                         three `thinraft agent` processes (the test binary
#                         re-executing itself: the guest has no Go toolchain)
#                         on dm/kernel + loop devices; IO through the thin
#                         device around a snapshot, the leader and the pool's
#                         node killed with SIGKILL and restarted, record =
#                         kernel, thin_check clean after teardown. ~15 s.
#
# The same test runs on the userspace engine in `make unit` (a few seconds).

CLUSTER_VM_ARGS ?= -test.run ^TestClusterKernelScenario$$ -test.v -test.count=1 -cluster.engine=kernel

.PHONY: vmtest-cluster

vmtest: vmtest-cluster

vmtest-cluster: vm-deps
	$(VMTEST_BIN) $(VMTEST_FLAGS) ./cmd/thinraft -- $(CLUSTER_VM_ARGS)
