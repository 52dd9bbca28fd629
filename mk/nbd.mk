# NBD export (thinpool/nbd, docs/nbd.md). Included by the top-level Makefile.
#
#   make vmtest-nbd   TestNBDClients on the real kernel in qemu (qemu-io,
#                     qemu-img map, nbdinfo, nbdcopy against a kernel thin
#                     volume over a unix socket); part of make vmtest.
#   make nbd-deps     the Debian NBD clients the tests drive (part of deps).
#   make fuzz-nbd     each NBD fuzz target for FUZZTIME (part of make fuzz).

NBD_VMTEST_ARGS ?= -test.run TestNBDClients -test.v -test.count=1 -thinpool.engine=kernel
NBD_CLIENT_PKGS := qemu-utils libnbd-bin
NBD_FUZZ_TARGETS := FuzzParseOptions FuzzSession

.PHONY: vmtest-nbd nbd-deps fuzz-nbd
vmtest: vmtest-nbd
deps: nbd-deps
fuzz: fuzz-nbd

vmtest-nbd: vm-deps nbd-deps
	$(VMTEST_BIN) $(VMTEST_FLAGS) ./thinpool/nbd -- $(NBD_VMTEST_ARGS)

nbd-deps:
	@missing=""; for b in qemu-io qemu-img nbdinfo nbdcopy; do command -v $$b >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(NBD_CLIENT_PKGS)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(NBD_CLIENT_PKGS); \
	  else echo "missing NBD clients: run  sudo apt-get install -y --no-install-recommends $(NBD_CLIENT_PKGS)"; exit 1; fi; \
	fi

fuzz-nbd:
	@set -e; for f in $(NBD_FUZZ_TARGETS); do \
	  echo "== $$f ($(FUZZTIME))"; \
	  $(GO) test ./thinpool/nbd -run "^$$f$$" -fuzz "^$$f$$" -fuzztime $(FUZZTIME); \
	done
