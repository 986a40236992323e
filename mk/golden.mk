# SPDX-License-Identifier: MIT
# Golden fixtures (tests/golden/): golden-tool, the writing checks that
# tests/integration/golden/test_golden.py runs.  Never installed.

GOLDEN_TOOL := $(O)/tests/golden/golden-tool
GOLDEN_TOOL_SRCS := $(wildcard tests/golden/tool/*.c)

$(GOLDEN_TOOL): $(GOLDEN_TOOL_SRCS) tests/golden/tool/golden_tool.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -Itests/golden/tool -o $@ $(GOLDEN_TOOL_SRCS) $(LIB_A) \
	  $(LDFLAGS_ALL) $(PKG_LIBS)

.PHONY: golden-tool
golden-tool: $(GOLDEN_TOOL)
integration-tools: $(GOLDEN_TOOL)
