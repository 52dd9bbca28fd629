# bench-cluster: control-plane throughput (saturated closed loop) and
# latency (fixed-rate open loop at 1,000 ops/s, per-stage split, CPU per
# op) of a 3-node cluster on the userspace engine (API -> Raft -> agent ->
# pool), at 100, 10,000 and 100,000 existing volumes; Raft snapshot restore
# time and RSS at the last level. Writes bench/results/cluster.json
# (docs/bench-cluster.md). About a minute or two on 2 cores. BENCH_CLUSTER_FLAGS
# passes e.g. -levels 100,10000 -pairs 500 -open-rate 800.
BENCH_CLUSTER_FLAGS ?=

.PHONY: bench-cluster
bench: bench-cluster
bench-cluster:
	@mkdir -p bench/results
	$(GO) run ./bench/cluster -out bench/results/cluster.json $(BENCH_CLUSTER_FLAGS)
