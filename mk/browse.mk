# SPDX-License-Identifier: MIT
# find, dump and mount (helper/cli/cmd_{find,dump,mount}.c): libarchive
# writes dump's tar stream, libfuse3 serves the mount.  The CLI alone links
# them; the agent, the helper and the modules do not.
BROWSE_PKGS := libarchive fuse3
$(O)/cloudseal: PKG_LIBS += $(shell pkg-config --libs $(BROWSE_PKGS) 2>/dev/null)
$(O)/helper/cli/cmd_dump.o $(O)/helper/cli/cmd_mount.o: PKG_CFLAGS += $(shell pkg-config --cflags $(BROWSE_PKGS) 2>/dev/null)
