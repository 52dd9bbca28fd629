# bench and fuzz (owned with bench/ and dm's fuzz targets; see docs/bench.md).

# bench: the userspace engine's thin device vs a plain file on the same
# disk; writes bench/results/engine.json and prints the table. A few
# minutes on 2 cores. BENCH_FLAGS passes e.g. -reps 3 -mib 64 -zero=false
# -provision sparse.
BENCH_FLAGS ?=
bench:
	$(GO) run ./bench/engine $(BENCH_FLAGS)

# fuzz: every parser fuzz target for FUZZTIME each, one after the other
# (go test -fuzz takes one target at a time). A finding fails the target
# and is saved under dm/testdata/fuzz/<Target>/ as a regression seed.
FUZZTIME ?= 30s
FUZZ_TARGETS := FuzzParsePoolStatus FuzzParseThinStatus FuzzParseMessage FuzzParseThinPoolParams FuzzReadThinXML
fuzz:
	@set -e; for f in $(FUZZ_TARGETS); do \
	  echo "== $$f ($(FUZZTIME))"; \
	  $(GO) test ./dm -run "^$$f$$" -fuzz "^$$f$$" -fuzztime $(FUZZTIME); \
	done
