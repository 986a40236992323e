/* SPDX-License-Identifier: MIT */
/* /etc/cloudseal/cloudseal.conf, read with inih.
 *
 * The file is INI: [section] then key = value.  A line whose first
 * non-blank character is # or ; is a comment, and so is the rest of a
 * value line from a # or ; that follows a space or tab ("lock = reboot   #
 * overnight backups"); a # or ; inside a word is part of the value.  Every key the program
 * knows is declared once in config_keys.c with its type, default and bounds
 * (and documented in man/cloudseal.conf.5); an unknown key is a warning, a
 * malformed or out-of-range value is an error.  Readers ask for a key and get
 * the file's value or the declared default.
 */
#ifndef CS_CONFIG_CONFIG_H
#define CS_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_CONFIG_DEFAULT_PATH "/etc/cloudseal/cloudseal.conf"
#define CS_CONFIG_MAX_BYTES (256 * 1024)

typedef struct cs_config cs_config;

typedef enum cs_config_type {
    CS_CONF_STRING,
    CS_CONF_INT,      /* signed 64-bit, bounded by min/max */
    CS_CONF_BOOL,     /* yes/no/true/false/1/0/on/off */
    CS_CONF_DURATION, /* seconds; accepts suffixes s, min, h, d, w */
    CS_CONF_SIZE,     /* bytes; accepts suffixes K, M, G (binary) */
} cs_config_type;

typedef struct cs_config_key {
    const char *section;
    const char *key;
    cs_config_type type;
    const char *default_value; /* as it would be written in the file; NULL = unset */
    int64_t min, max;          /* for INT, DURATION, SIZE */
} cs_config_key;

/* The table of known keys, terminated by { NULL }. */
extern const cs_config_key cs_config_keys[];

/* STRING keys that take one of a few words (space-separated), checked when
 * the file is read; terminated by { NULL }. */
typedef struct cs_config_choice {
    const char *section, *key, *words;
} cs_config_choice;
extern const cs_config_choice cs_config_choices[];

/* What a valid value of k looks like, for messages ("a duration like 1h or
 * 30min, from 1s to 1w"). */
void cs_config_expected(const cs_config_key *k, char *buf, size_t len);

/* Load path (NULL = CS_CONFIG_DEFAULT_PATH).  A missing default file is
 * not an error (all defaults); a file named otherwise (--config,
 * $CLOUDSEAL_CONFIG) must exist and set something (-ENOENT, -EINVAL).  A
 * key given twice in a section is refused (-EINVAL, both lines named).
 * Errors name the file and line and the expected form on stderr:
 * "invalid value 'x' for 'interval' in [agent] at FILE:12: a duration like
 * 1h or 30min, from 1s to 1w". */
int cs_config_load(const char *path, cs_config **out);
/* The same from text (name for messages; named: as a file given on purpose,
 * which must set something).  For cs_config_load and the fuzz target. */
int cs_config_parse_text(const char *name, const void *data, size_t len, bool named, cs_config **out);
/* All defaults, no file. */
int cs_config_new_default(cs_config **out);
void cs_config_free(cs_config *c);
static inline void cs_config_freep(cs_config **c) { if (*c) cs_config_free(*c); }
#define _cleanup_config_ __attribute__((cleanup(cs_config_freep)))

/* Set a value as if read from the file (validated).  For tests and --set. */
int cs_config_set(cs_config *c, const char *section, const char *key, const char *value);

/* Getters: the value from the file, else the declared default.  Asking for
 * an undeclared key is a programming error and aborts. */
const char *cs_config_str(const cs_config *c, const char *section, const char *key);
int64_t cs_config_int(const cs_config *c, const char *section, const char *key);
bool cs_config_bool(const cs_config *c, const char *section, const char *key);

/* Parse helpers shared with command-line options. */
int cs_parse_bool(const char *s, bool *out);
int cs_parse_duration(const char *s, int64_t *seconds);
int cs_parse_size(const char *s, int64_t *bytes);

#endif
