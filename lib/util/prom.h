/* SPDX-License-Identifier: MIT */
/* Samples of Prometheus' text exposition format (node_exporter's textfile
 * collector reads it).  A label value is the one place where text from
 * elsewhere (a user name, a host name in a report any client writes) goes
 * into a line, so every value goes through the one escaper here: '\\',
 * '"' and newline escaped as the format requires, each byte that is not
 * part of valid UTF-8 replaced by U+FFFD (the format is UTF-8).  A value
 * can then neither end its quotes nor start a line of its own. */
#ifndef CS_UTIL_PROM_H
#define CS_UTIL_PROM_H

#include <stdint.h>
#include <stdio.h>

/* Write `name{k1="v1",k2="v2"} value\n` to f; labels holds key, value
 * pairs and a final NULL (the keys are the caller's constants).  0, or
 * -EIO when f fails. */
int cs_prom_sample(FILE *f, const char *name, const char *const *labels, uint64_t value);

#endif
