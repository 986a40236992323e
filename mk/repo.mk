# SPDX-License-Identifier: MIT
# Backup repository (issue 3): longer variants of its tests, outside `make check`.
#   make check-long     the kill -9 crash loop with 200 iterations, the issue-17 campaign (>= 100
#                       kills of backup and prune, one flipped byte per object kind, counts
#                       printed), 60 s per repo fuzz target
.PHONY: check-long check-long-repo
check-long: check-long-repo
check-long-repo: all
	CS_REPO_CRASH_ITERATIONS=200 CS_REPO_CAMPAIGN=1 O=$(O) $(PYTEST) -q -p no:cacheprovider --import-mode=importlib \
	  tests/integration/repo -k "kill9 or concurrent"
	$(MAKE) $(patsubst %,$(FUZZ_O)/%,fuzz_tree fuzz_index fuzz_pack_header fuzz_snapshot fuzz_filecache)
	FUZZ_SECONDS=60 tests/run-fuzz.sh $(patsubst %,$(FUZZ_O)/%,fuzz_tree fuzz_index fuzz_pack_header fuzz_snapshot fuzz_filecache)

# a stand-in systemd user manager for `cloudseal status` (tests/integration/keys)
FAKE_SYSTEMD1 := $(O)/tests/fake-systemd1
$(FAKE_SYSTEMD1): tests/integration/keys/fake_systemd1.c $(BUS_STANDIN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -o $@ $< tests/integration/bus_standin.c $(LDFLAGS_ALL) $(PKG_LIBS)

# LD_PRELOAD fault injection for the backup walk (tests/integration/repo/test_repo_enomem.py)
FAILALLOC_SO := $(O)/tests/failalloc.so
$(FAILALLOC_SO): tests/integration/repo/failalloc.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -U_FORTIFY_SOURCE -shared -o $@ $< -ldl

# LD_PRELOAD crash injection by operation count (test_kill9_during_backup_and_prune)
CRASHAT_SO := $(O)/tests/crashat.so
$(CRASHAT_SO): tests/integration/repo/crashat.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -U_FORTIFY_SOURCE -shared -o $@ $< -ldl

# LD_PRELOAD: the user name of a snapshot's writer (tests/integration/repo/test_repo_json_names.py)
PWNAME_SO := $(O)/tests/pwname.so
$(PWNAME_SO): tests/integration/repo/pwname.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -U_FORTIFY_SOURCE -shared -o $@ $< -ldl

integration-tools: $(FAKE_SYSTEMD1) $(FAILALLOC_SO) $(CRASHAT_SO) $(PWNAME_SO)
