# SPDX-License-Identifier: MIT
# cloudseal — top-level build.  GNU make + pkg-config.
#
#   make            build everything into build/
#   make check      install missing packages, build, run every test
#   make demo       end-to-end demo in a private sandbox
#   make asan       ASan+UBSan build in build-asan/ and its unit tests
#   make fuzz       libFuzzer targets, 60 s each (FUZZ_SECONDS=N)
#   make install    DESTDIR=... PREFIX=/usr
#
# Each part's sources are picked up by wildcard, so adding a file needs no
# Makefile change.  Part-specific extra rules live in mk/*.mk.

PREFIX     ?= /usr
SYSCONFDIR ?= /etc
MULTIARCH  ?= $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || $(CC) -print-multiarch)
LIBDIR     ?= $(PREFIX)/lib/$(MULTIARCH)
PAMDIR     ?= $(LIBDIR)/security
LIBEXECDIR ?= $(PREFIX)/libexec/cloudseal
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
USERUNITDIR ?= $(PREFIX)/lib/systemd/user
UNITDIR    ?= $(PREFIX)/lib/systemd/system

O   ?= build
SAN ?=
CC  ?= gcc
PYTEST ?= /usr/bin/python3 -m pytest

LIB_PKGS := libsodium libcrypto libcurl json-c libzstd inih expat libsystemd libkeyutils
PKG_CFLAGS := $(shell pkg-config --cflags $(LIB_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(LIB_PKGS) 2>/dev/null) -lpthread

WARN   := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
HARDEN := -fstack-protector-strong -fstack-clash-protection -D_FORTIFY_SOURCE=2
ifeq ($(SAN),1)
OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
HARDEN := -fstack-protector-strong
SANLD  := -fsanitize=address,undefined
else
OPT    := -O2 -g
endif
CFLAGS ?=
CS_VERSION := 0.1.0
CPPFLAGS += -DCS_VERSION='"$(CS_VERSION)"' -D_GNU_SOURCE -Ilib -DCS_SYSCONFDIR='"$(SYSCONFDIR)"' -DCS_LIBEXECDIR='"$(LIBEXECDIR)"'
ALL_CFLAGS := -std=gnu11 $(OPT) $(WARN) $(HARDEN) -fPIC $(CPPFLAGS) $(CFLAGS)
LDFLAGS_ALL := -Wl,-z,relro,-z,now -Wl,--as-needed $(SANLD) $(LDFLAGS)

LIB_SRCS    := $(sort $(shell find lib -name '*.c'))
CLI_SRCS    := $(sort $(wildcard helper/cli/*.c))
PRIV_SRCS   := $(sort $(wildcard helper/priv/*.c))
AGENT_SRCS  := $(sort $(wildcard helper/agent/*.c))
PAM_SRCS    := $(sort $(wildcard pam/*.c)) lib/basic/user_name.c
NSS_SRCS    := $(sort $(wildcard nss/*.c)) lib/basic/dircache_reader.c lib/basic/user_name.c
UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS   := $(sort $(wildcard tests/fuzz/fuzz_*.c))

obj = $(patsubst %.c,$(O)/%.o,$(1))
# ar names members by file name alone: two lib/ sources called sync.c would
# leave the linker one of them, depending on the order
ifneq ($(words $(notdir $(LIB_SRCS))),$(words $(sort $(notdir $(LIB_SRCS)))))
$(error two files in lib/ share a name; rename one (ar keeps members by file name))
endif
LIB_A       := $(O)/libcloudseal.a
PROGRAMS    := $(if $(CLI_SRCS),$(O)/cloudseal) $(if $(PRIV_SRCS),$(O)/cloudseal-helper) \
               $(if $(AGENT_SRCS),$(O)/cloudseal-agent)
MODULES     := $(if $(PAM_SRCS),$(O)/pam_cloudseal.so) $(if $(NSS_SRCS),$(O)/libnss_cloudseal.so.2)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
UNIT_RUN    := $(UNIT_BINS)

.PHONY: all deps deps-build check check-quick unit asan asan-unit valgrind fuzz fuzz-smoke fuzz-long integration-tools \
        integration integration-quick \
        demo install clean bench
all: $(LIB_A) $(PROGRAMS) $(MODULES)

-include $(sort $(wildcard mk/*.mk))

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB_A): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(O)/cloudseal: $(call obj,$(CLI_SRCS)) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $(call obj,$(CLI_SRCS)) $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS)
$(O)/cloudseal-helper: $(call obj,$(PRIV_SRCS)) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $(call obj,$(PRIV_SRCS)) $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS)
$(O)/cloudseal-agent: $(call obj,$(AGENT_SRCS)) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $(call obj,$(AGENT_SRCS)) $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS)

# The modules live in other programs' processes: libc (and libpam) only,
# every undefined symbol resolved at link time, only the entry points exported.
$(O)/pam_cloudseal.so: $(call obj,$(PAM_SRCS))
	$(CC) $(ALL_CFLAGS) -shared -o $@ $^ -Wl,-z,defs -Wl,--version-script=pam/exports.map $(LDFLAGS_ALL) -lpam
$(O)/libnss_cloudseal.so.2: $(call obj,$(NSS_SRCS))
	$(CC) $(ALL_CFLAGS) -shared -o $@ $^ -Wl,-soname,libnss_cloudseal.so.2 -Wl,-z,defs \
	  -Wl,--version-script=nss/exports.map $(LDFLAGS_ALL)

# Unit tests: one cmocka binary per tests/unit/test_*.c, linked with the core
# and the tests' shared fixtures (the other .c files there).
UNIT_COMMON := $(filter-out $(UNIT_SRCS),$(sort $(wildcard tests/unit/*.c)))
$(O)/tests/%: tests/unit/%.c $(UNIT_COMMON) $(wildcard tests/unit/*.h) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(UNIT_COMMON) $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS) \
	  $(shell pkg-config --cflags --libs cmocka)

deps:
	@scripts/install-deps.sh all
deps-build:
	@scripts/install-deps.sh build

# T=keybag runs build/tests/test_keybag alone (T names a tests/unit/test_T.c,
# or pam for the pam_wrapper driver tests/pam/test_pam_cloudseal)
# The PAM driver (mk/pam.mk) is most of the run's time (35 of 55 s, mostly
# waiting on its helpers): started first, the other binaries run beside it
# (tests/run-unit.sh runs one per core) instead of it alone at the end.
UNIT_FIRST = $(filter %/test_pam_cloudseal,$(UNIT_RUN))
UNIT_SEL = $(if $(T),$(filter %/test_$(T) %/test_$(T)_cloudseal,$(UNIT_RUN)),$(UNIT_FIRST) $(filter-out $(UNIT_FIRST),$(UNIT_RUN)))
unit: all $(UNIT_BINS)
	@$(if $(UNIT_SEL),,echo "unit: no unit test binary named test_$(T)" >&2; exit 1;) \
	  O=$(O) tests/run-unit.sh $(UNIT_SEL)

asan:
	$(MAKE) O=build-asan SAN=1 all
	$(MAKE) O=build-asan SAN=1 unit

# the scripts run side by side (tests/run-valgrind.sh): what they would
# build is built here first, so that no two of them run make at once
valgrind: all $(PAM_TEST_BIN)
	@O=$(O) tests/run-valgrind.sh

# AREA=repo: tests/integration/repo only; K=expr: pytest -k; M=expr: pytest
# -m over the markers ceph, nspawn and root (tests/integration/conftest.py)
# the helper programs the pytest tiers use (each mk/*.mk adds its own;
# some tests drive unit binaries, e.g. the archive convergence property)
integration-tools: all $(UNIT_BINS)
# PYTEST_FLAGS: more pytest options (make check adds --durations)
# PYTEST_WORKERS=N: N pytest-xdist worker processes (default: one per core;
# the tests mostly wait); 0 or 1: the old serial run in one process.
# --dist loadgroup keeps the tests of one xdist_group on one worker.
PYTEST_WORKERS ?= $(shell nproc)
PYTEST_XDIST = $(if $(filter-out 0 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadgroup)
integration: all integration-tools
	O=$(O) $(PYTEST) -q -rs -p no:cacheprovider --import-mode=importlib $(PYTEST_XDIST) $(PYTEST_FLAGS) \
	  tests/integration$(if $(AREA),/$(AREA)) $(if $(K),-k "$(K)") $(if $(M),-m "$(M)")
integration-quick:
	$(MAKE) integration M="not ceph and not nspawn$(if $(M), and ($(M)))"

# libFuzzer: clang builds the core again with coverage instrumentation.
FUZZ_O := build-fuzz
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Ilib -fsanitize=fuzzer-no-link,address,undefined
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ_O)/%,$(FUZZ_SRCS))
$(FUZZ_O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<
$(FUZZ_O)/libcloudseal.a: $(patsubst %.c,$(FUZZ_O)/obj/%.o,$(LIB_SRCS))
	rm -f $@ && ar rcs $@ $^
$(FUZZ_O)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_O)/libcloudseal.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -MMD -MP -o $@ $< $(FUZZ_O)/libcloudseal.a $(PKG_LIBS)
# header changes rebuild what includes them (a stale object once gave a false crash)
-include $(shell find $(FUZZ_O) -name '*.d' 2>/dev/null)
FUZZ_SECONDS ?= 60
# F=fuzz_keybag: that target alone
FUZZ_SEL := $(if $(F),$(filter %/$(F),$(FUZZ_BINS)),$(FUZZ_BINS))
fuzz: $(FUZZ_SEL)
	@$(if $(FUZZ_SEL),,echo "fuzz: no target $(F) in tests/fuzz/" >&2; exit 1;) \
	  FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-fuzz.sh $(FUZZ_SEL)
fuzz-smoke: $(FUZZ_SEL)
	@FUZZ_SECONDS=5 tests/run-fuzz.sh $(FUZZ_SEL)
# The campaign: each target for 10 million runs or 5 minutes, whichever
# comes first, with its dictionary; new inputs are merged, minimised, into
# tests/fuzz/corpus/ (commit them).  About an hour on 2 cores.
fuzz-long: $(FUZZ_SEL)
	@FUZZ_SECONDS=300 FUZZ_RUNS=10000000 FUZZ_MERGE=1 tests/run-fuzz.sh $(FUZZ_SEL)

# One summary line per tier with its seconds and the total last
# (tests/run-check.sh); a skip of anything the suite installs is a failure
# here (CLOUDSEAL_STRICT).  Its budget is 15 minutes on 2 cores: each tier
# builds with one job per core (CHECK_JOBS), fuzz-smoke and valgrind run
# their targets and scripts one per core, and the integration log ends
# with the slowest tests (--durations), so the CI log shows where time goes.
CHECK_TIERS := all unit asan valgrind fuzz-smoke check-deb integration
CHECK_JOBS ?= $(shell nproc)
check: deps
	@CLOUDSEAL_STRICT=1 PYTEST_FLAGS="--durations=30 --durations-min=2" MAKE="$(MAKE) -j$(CHECK_JOBS)" \
	  O=$(O) tests/run-check.sh $(CHECK_TIERS)

# A developer's run of a few minutes: build, unit, ASan unit, integration
# without Ceph and nspawn.  Installs nothing.
check-quick:
	@MAKE="$(MAKE) -j$(CHECK_JOBS)" O=$(O) tests/run-check.sh all unit asan integration-quick

demo: deps-build
	$(MAKE) all
	tests/demo/demo.sh

bench: all
	bench/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(PAMDIR) $(DESTDIR)$(LIBDIR)
	install -m 0755 $(O)/cloudseal $(DESTDIR)$(BINDIR)/cloudseal
	install -m 0755 $(O)/cloudseal-helper $(DESTDIR)$(LIBEXECDIR)/cloudseal-helper
	$(if $(AGENT_SRCS),install -m 0755 $(O)/cloudseal-agent $(DESTDIR)$(LIBEXECDIR)/cloudseal-agent)
	install -m 0644 $(O)/pam_cloudseal.so $(DESTDIR)$(PAMDIR)/pam_cloudseal.so
	$(if $(NSS_SRCS),install -m 0644 $(O)/libnss_cloudseal.so.2 $(DESTDIR)$(LIBDIR)/libnss_cloudseal.so.2)
	install -d $(DESTDIR)$(SYSCONFDIR)/cloudseal
	install -m 0644 systemd/cloudseal.conf.example $(DESTDIR)$(SYSCONFDIR)/cloudseal/cloudseal.conf
	for m in man/*.[0-9]; do s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
	  install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	for u in systemd/*.service systemd/*.timer systemd/*.socket; do [ -e "$$u" ] || continue; \
	  case "$$(basename $$u)" in cloudseal-agent*) d=$(USERUNITDIR);; *) d=$(UNITDIR);; esac; \
	  install -d $(DESTDIR)$$d; install -m 0644 $$u $(DESTDIR)$$d/; done

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(O) -name '*.d' 2>/dev/null)
