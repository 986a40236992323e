# SPDX-License-Identifier: MIT
# The floors `make bench` measures beside the tools (bench/README.md, "Floors
# measured by make bench"): programs linked with the core like the unit tests.
#   engine-floor  the engine's per-byte work on a tree (read, chunk, id, zstd, seal)
#   write-floor   the kernel's least work of any restore of a tree (libc only)
ENGINE_FLOOR := $(O)/bench/engine-floor
WRITE_FLOOR  := $(O)/bench/write-floor

$(ENGINE_FLOOR): bench/engine_floor.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS)

$(WRITE_FLOOR): bench/write_floor.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS_ALL) -lpthread

.PHONY: bench-tools
bench-tools: $(ENGINE_FLOOR) $(WRITE_FLOOR)
bench integration-tools: bench-tools

# Issue 23's run of record in one command (bench/README.md, "The run of
# record"): every target, medians of 3 runs, each dataset's tools and floors
# in one run; then RGW on loopback and over the shaped WAN link (2 runs
# each).  About 75 minutes on a quiet 2-core machine; results under
# $(O)/bench/record-<time>/.  The 1 M tree's targets are against its stat
# walk and in RSS: cloudseal alone there (restic and cp -a of a million
# files would add an hour).
.PHONY: bench-record
bench-record: all bench-tools
	set -e; out=$(abspath $(O))/bench/record-$$(date +%Y%m%d-%H%M%S); \
	BENCH_OUT=$$out/trees BENCH_RUNS=3 BENCH_DATASETS="real synthetic" \
	  BENCH_TOOLS="cloudseal write_floor cp_a restic borg_lz4 cloudseal_1cpu" bench/run.sh; \
	BENCH_OUT=$$out/1m BENCH_RUNS=3 BENCH_DATASETS=1m BENCH_TOOLS_1M=cloudseal BENCH_FLOORS= bench/run.sh; \
	BENCH_OUT=$$out/s3 BENCH_RUNS=2 bench/s3.sh; \
	BENCH_OUT=$$out/wan BENCH_RUNS=2 bench/wan.sh
