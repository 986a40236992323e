# SPDX-License-Identifier: MIT
# Message archive (lib/archive, docs/archive.md).
#
#   make archive-long        the convergence property test on 5000 seeds per
#                            device count (make check runs 200 + 200)
#   make archive-long-s3     the same against s3rver (s3:// backend), 300 seeds
#   make archive-bench       bench/archive.sh: 50 000 messages, initial and
#                            no-change sync (BENCH_MESSAGES=N to change)
#   make archive-fuzz-seeds  regenerate tests/fuzz/corpus/fuzz_archive_*
ARCHIVE_SEEDGEN := $(O)/tests/archive-seeds
ARCHIVE_LONG_SEEDS ?= 5000

.PHONY: archive-long archive-long-s3 archive-bench archive-fuzz-seeds

$(ARCHIVE_SEEDGEN): tests/fuzz/archive_seeds.c tests/fuzz/archive_fuzz_common.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -Itests/fuzz -o $@ $< $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS)

archive-fuzz-seeds: $(ARCHIVE_SEEDGEN)
	$(ARCHIVE_SEEDGEN) tests/fuzz/corpus

archive-long: $(O)/tests/test_archive_converge
	ARCHIVE_SEEDS=$(ARCHIVE_LONG_SEEDS) ARCHIVE_SEED_BASE=1000 $(O)/tests/test_archive_converge

archive-long-s3: all $(O)/tests/test_archive_converge
	ARCHIVE_S3_SEEDS=300 $(PYTEST) -q -p no:cacheprovider --import-mode=importlib \
	  tests/integration/archive/test_archive_s3.py

archive-bench: all
	O=$(O) bench/archive.sh
