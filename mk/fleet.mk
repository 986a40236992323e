# SPDX-License-Identifier: MIT
# Fleet part (owner: fleet): test build of the NSS module, test/bench tools.
#
# The installed libnss_cloudseal.so.2 reads only /var/lib/cloudseal/directory.cache.
# The test build below also honours $CLOUDSEAL_NSS_CACHE (for nss_wrapper tests
# that must not touch /var/lib); it is never installed.

FLEET_TEST_NSS := $(O)/tests/fleet/libnss_cloudseal.so.2
FLEET_TOOL     := $(O)/tests/fleet/fleet-tool
NSS_BENCH      := $(O)/bench/nss-bench

$(FLEET_TEST_NSS): $(NSS_SRCS) lib/basic/dircache.h nss/exports.map
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DCS_NSS_TEST_OVERRIDE -shared -o $@ $(NSS_SRCS) -Wl,-soname,libnss_cloudseal.so.2 \
	  -Wl,-z,defs -Wl,--version-script=nss/exports.map $(LDFLAGS_ALL)

$(FLEET_TOOL): tests/fleet/fleet_tool.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS)

# libc only: it measures the NSS modules, nothing else
$(NSS_BENCH): bench/nss_bench.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS_ALL)

.PHONY: fleet-test-tools bench-nss
fleet-test-tools: $(FLEET_TEST_NSS) $(FLEET_TOOL)
integration-tools valgrind: fleet-test-tools

bench-nss: all $(FLEET_TOOL) $(NSS_BENCH)
	bench/nss.sh
