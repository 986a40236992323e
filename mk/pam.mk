# SPDX-License-Identifier: MIT
# pam_cloudseal.so tests under pam_wrapper (tests/pam/): the generic unit
# rule does not link libpamtest, so the driver gets its own rule here.
#   make pam-tests      build and run them (part of `make unit`, hence of
#                       `make check` and, in build-asan/, of `make asan`)
PAM_TEST_BIN := $(O)/tests/pam/test_pam_cloudseal
PAM_TEST_ASAN_LIB := $(if $(filter 1,$(SAN)),$(shell $(CC) -print-file-name=libasan.so))

$(PAM_TEST_BIN): tests/pam/test_pam_cloudseal.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -DBUILD_DIR='"$(abspath $(O))"' -DMULTIARCH='"$(MULTIARCH)"' \
	  -DASAN_LIB='"$(PAM_TEST_ASAN_LIB)"' -o $@ $< $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS) \
	  $(shell pkg-config --cflags --libs libpamtest cmocka) -lpam

.PHONY: pam-tests
pam-tests: $(LIB_A) $(O)/pam_cloudseal.so $(O)/cloudseal-helper $(PAM_TEST_BIN)
	@O=$(O) tests/run-unit.sh $(PAM_TEST_BIN)

# make unit runs it with the other cmocka binaries (one count of cases)
UNIT_RUN += $(PAM_TEST_BIN)
unit: $(O)/pam_cloudseal.so $(O)/cloudseal-helper $(PAM_TEST_BIN)
