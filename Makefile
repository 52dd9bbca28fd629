# thinraft — top-level targets. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
GO ?= go
# Unit tests leave the second core to the go tool; the VM stage runs alone
# (TCG is CPU-bound: see docs/vmtest.md).
GOTEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: all build test unit vet fmt-check demo bench fuzz deps clean

all: build

build:
	$(GO) build ./...

# test: host checks, the unit and conformance tests on the userspace engine,
# then the real-kernel stage in qemu (vmtest, from mk/vmtest.mk). Missing VM
# packages are installed when running as root, otherwise the target fails
# with the one command to run: it never silently skips.
test: fmt-check vet unit vmtest

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit: deps
	$(GO) test $(GOTEST_FLAGS) ./...

# deps: host tools the unit tests call (thin-provisioning-tools for the
# second oracle; qemu-io, nbdinfo and nbdcopy as real NBD clients of the
# export tests). Installed when root, else the exact command is printed.
HOST_PKGS := thin-provisioning-tools qemu-utils libnbd-bin
deps:
	@missing=""; for b in thin_check thin_restore thin_dump thin_ls thin_delta qemu-io qemu-img nbdinfo nbdcopy; do command -v $$b >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(HOST_PKGS)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(HOST_PKGS); \
	  else echo "missing host tools: run  sudo apt-get install -y $(HOST_PKGS)"; exit 1; fi; \
	fi

# demo: a 3-node loopback cluster on the userspace engine in a temporary
# directory, walked with the real CLI, every step checked (cmd/demo/doc.go).
# Built to bin/ and run from there so its exit status (0 only when every
# check held; 130 when interrupted) reaches make unchanged.
demo:
	$(GO) build -o bin/demo ./cmd/demo
	GO=$(GO) bin/demo

clean:
	rm -rf .vmbench bin

-include mk/*.mk

# bench-thinpool: thin create/snapshot/delete rates through thinpool on the
# real kernel in qemu against LVM in the same VM, then on the userspace
# engine; merged into bench/results/thinpool.json (bench/thinpool/doc.go).
.PHONY: bench-thinpool
bench: bench-thinpool
bench-thinpool: vm-deps
	@command -v lvm >/dev/null || { if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lvm2; else echo "bench-thinpool needs LVM as the baseline: sudo apt-get install -y lvm2"; exit 1; fi; }
	@mkdir -p bench/results
	$(VMTEST_BIN) $(VMTEST_FLAGS) ./bench/thinpool -- -test.run '^$$' -bench.mode=kernel | tee bench/results/thinpool-vm.log
	@grep -a '^THINPOOL_BENCH_JSON ' bench/results/thinpool-vm.log | tail -1 | sed 's/^THINPOOL_BENCH_JSON //' > bench/results/thinpool-kernel.tmp
	@test -s bench/results/thinpool-kernel.tmp || { echo "bench-thinpool: the VM run printed no results"; exit 1; }
	cd bench/thinpool && $(GO) test -count=1 -v -run '^$$' . -args -bench.mode=engine -bench.out=../results/thinpool.json -bench.kernel-json=../results/thinpool-kernel.tmp
	@rm -f bench/results/thinpool-kernel.tmp bench/results/thinpool-vm.log
