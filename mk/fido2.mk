# SPDX-License-Identifier: MIT
# Security keys (lib/crypto/fido2.c, docs/fido2.md).  -lfido2 goes to
# cloudseal and cloudseal-helper only, never to the modules or the agent.
# The test builds below are the same objects plus tests/fido2/soft_transport.c
# (compiled by the generic rule), which routes libfido2's io to the software
# authenticator; they are never installed, and
# tests/integration/fido2/test_build.py checks that the production binaries
# contain none of it.
FIDO2_LIBS := $(shell pkg-config --libs libfido2 2>/dev/null)
$(O)/cloudseal $(O)/cloudseal-helper $(O)/tests/test_fido2: PKG_LIBS += $(FIDO2_LIBS)
# the test CLI links what the real one does (mk/browse.mk)
$(O)/test-fido2/cloudseal: PKG_LIBS += $(shell pkg-config --libs $(BROWSE_PKGS) 2>/dev/null)

FIDO2_SOFT_OBJ := $(O)/tests/fido2/soft_transport.o
FIDO2_TEST_BINS := $(O)/test-fido2/cloudseal $(O)/test-fido2/cloudseal-helper $(O)/tests/fido2-tool \
                   $(O)/tests/fido2-prompt-helper

$(O)/test-fido2/cloudseal: $(call obj,$(CLI_SRCS)) $(FIDO2_SOFT_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(call obj,$(CLI_SRCS)) $(FIDO2_SOFT_OBJ) $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS) $(FIDO2_LIBS)
$(O)/test-fido2/cloudseal-helper: $(call obj,$(PRIV_SRCS)) $(FIDO2_SOFT_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(call obj,$(PRIV_SRCS)) $(FIDO2_SOFT_OBJ) $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS) $(FIDO2_LIBS)
$(O)/tests/fido2-tool: $(O)/tests/fido2/fido2_tool.o $(FIDO2_SOFT_OBJ) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(FIDO2_SOFT_OBJ) $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS) $(FIDO2_LIBS)

# the helper side of the prompt wire (helper/priv/ui.c), exec'd by the module
FIDO2_PROMPT_OBJS := $(O)/helper/priv/ui.o $(O)/helper/priv/common.o
$(O)/tests/fido2-prompt-helper: $(O)/tests/fido2/prompt_helper.o $(FIDO2_PROMPT_OBJS) $(FIDO2_SOFT_OBJ) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(FIDO2_PROMPT_OBJS) $(FIDO2_SOFT_OBJ) $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS) $(FIDO2_LIBS)

.PHONY: fido2-tools
fido2-tools: $(FIDO2_TEST_BINS)
integration-tools: $(FIDO2_TEST_BINS)
