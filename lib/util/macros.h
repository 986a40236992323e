/* SPDX-License-Identifier: MIT */
/* Small shared macros: cleanup attributes and array sizes. */
#ifndef CS_UTIL_MACROS_H
#define CS_UTIL_MACROS_H

#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>

#define CS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CS_UNUSED __attribute__((unused))

static inline void cs_freep(void *p) { free(*(void **)p); }
static inline void cs_closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void cs_fclosep(FILE **f) { if (*f) fclose(*f); }
#define _cleanup_free_   __attribute__((cleanup(cs_freep)))
#define _cleanup_close_  __attribute__((cleanup(cs_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(cs_fclosep)))

/* Take ownership out of a cleanup variable. */
#define CS_TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define CS_TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

#endif
