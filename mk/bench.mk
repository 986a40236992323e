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
