# SPDX-License-Identifier: MIT
# S3 backend: the test driver the integration tests run (tests/s3/s3tool.c).
# Built with `make all` so that `make integration` has it; the S3 test
# servers (s3rver from npm, radosgw) are started by pytest session fixtures
# in tests/integration/s3/s3_servers.py (fixtures of the whole tree).
S3TOOL := $(O)/tests/s3tool
all: $(S3TOOL)
$(S3TOOL): tests/s3/s3tool.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS)

# Benchmarks against restic to the same Ceph RGW (root: Ceph daemons, a
# network namespace): on loopback, and over a shaped WAN link (bench/README.md).
.PHONY: bench-s3 bench-wan
bench-s3: all bench-tools
	bench/s3.sh
bench-wan: all bench-tools
	bench/wan.sh
