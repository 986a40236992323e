/* SPDX-License-Identifier: MIT */
/* golden-tool: the writing checks of tests/golden (see golden_tool.c). */
#ifndef CS_GOLDEN_TOOL_H
#define CS_GOLDEN_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include "crypto/keybag.h"
#include "crypto/keys.h"

/* Print "<what> <name>: re-encoded equal, N bytes" when a == b and return
 * 0, else print where they first differ and return 1 (one difference). */
int golden_same(const char *what, const char *name, const uint8_t *a, size_t alen,
                const uint8_t *b, size_t blen);
/* Parse the keybag at path and unlock its password slot with the password
 * on stdin (read once per process): the account key, and the bag if kb. */
int golden_unlock(const char *path, cs_keybag **kb, cs_amk **amk);

int golden_repo(int argc, char **argv);
int golden_packs(int argc, char **argv);
int golden_chunks(int argc, char **argv);
int golden_segment(int argc, char **argv);
int golden_fleet_user(int argc, char **argv);

#endif
