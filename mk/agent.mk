# SPDX-License-Identifier: MIT
# cloudseal-agent: the integration tests' key helper, and the unit-file check.
AGENT_KEYTOOL := $(O)/tests/agent-keytool

$(AGENT_KEYTOOL): tests/integration/agent/keytool.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB_A) $(LDFLAGS_ALL) $(PKG_LIBS)

integration-tools: $(AGENT_KEYTOOL)

# what the D-Bus stand-ins (these two, fake-systemd1 in repo.mk) share
BUS_STANDIN := tests/integration/bus_standin.c tests/integration/bus_standin.h

# a stand-in desktop notification server for the notification test
AGENT_NOTIFYD := $(O)/tests/agent-notifyd
$(AGENT_NOTIFYD): tests/integration/agent/notifyd.c $(BUS_STANDIN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -o $@ $< tests/integration/bus_standin.c $(LDFLAGS_ALL) $(PKG_LIBS)

integration-tools: $(AGENT_NOTIFYD)

# a stand-in UPower and NetworkManager (battery, metered) for the power tests
AGENT_POWERD := $(O)/tests/agent-powerd
$(AGENT_POWERD): tests/integration/agent/powerd.c $(BUS_STANDIN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -o $@ $< tests/integration/bus_standin.c $(LDFLAGS_ALL) $(PKG_LIBS)

integration-tools: $(AGENT_POWERD)
