# Real-kernel stage (docs/vmtest.md): boots the host's Debian kernel under
# qemu TCG and runs test binaries built on the host inside it, as root, with
# device-mapper, dm-thin and loop. Included by the top-level Makefile.
#
#   make vmtest     dm/kernel's own tests, then the conformance suite on the
#                   kernel engine; each run prints "vmtest: kernel K: N passed,
#                   M failed, ..." and fails on any failure or a timeout.
#   make vm-deps    install qemu, the kernel image, busybox-static, xz and the
#                   thin tools when root (apt-get update first); otherwise
#                   fail with the one command to run.
#
# The runner is built to bin/vmtest rather than started with `go run`, which
# would turn its exit statuses (2: missing packages, 124: timeout) into 1.

VMTEST_BIN   ?= bin/vmtest
# Hard per-boot limit; the whole stage must stay under 10 minutes on 2 cores.
VMTEST_FLAGS ?= -timeout 9m -mem 1024
CONFORMANCE_ARGS ?= -test.run TestConformance -test.v -dm.engine=kernel

.PHONY: vmtest vm-deps vmtest-bin vmtest-kernel vmtest-conformance

vmtest: vmtest-kernel vmtest-conformance

vmtest-bin:
	@$(GO) build -o $(VMTEST_BIN) ./cmd/vmtest

vmtest-kernel: vm-deps
	$(VMTEST_BIN) $(VMTEST_FLAGS) ./dm/kernel -- -test.v -test.count=1

vmtest-conformance: vm-deps
	$(VMTEST_BIN) $(VMTEST_FLAGS) ./dm/conformance -- $(CONFORMANCE_ARGS)

vm-deps: vmtest-bin
	@cmd=$$($(VMTEST_BIN) -check-deps 2>/dev/null); rc=$$?; \
	if [ $$rc = 0 ]; then exit 0; fi; \
	if [ $$rc != 2 ]; then echo "vm-deps: '$(VMTEST_BIN) -check-deps' failed (exit $$rc)"; exit 1; fi; \
	$(VMTEST_BIN) -check-deps >/dev/null || true; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "vm-deps: $$cmd"; export DEBIAN_FRONTEND=noninteractive; eval "$$cmd" || exit 1; \
	  $(VMTEST_BIN) -check-deps || exit 1; \
	else \
	  echo "vm-deps: VM packages missing; run as root:"; echo "  sudo sh -c '$$cmd'"; exit 1; \
	fi
