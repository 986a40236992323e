/* SPDX-License-Identifier: MIT */
/* The directory-cache reader, compiled into libcloudseal.a from the one
 * source file the NSS module uses, so the compiler's self-check, the login
 * check (pinned.c), the tests and the fuzz target exercise exactly the code
 * that runs inside every process resolving a user name. */
#include "../../nss/dircache_reader.c"
