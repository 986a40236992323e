/* SPDX-License-Identifier: MIT */
/* The CLI's JSON output: printed one way (cli_print_json), and JSON another
 * process wrote (the agent's replies) brought under the rule of every string
 * in JSON output (util/json.h). */
#ifndef CS_CLI_CLI_JSON_H
#define CS_CLI_CLI_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

/* Adds v under key of o, or to the array a; a NULL v (json_object_new_*
 * out of memory) or a failed add is remembered (v freed) and the next
 * cli_print_json prints nothing: json-c would have stored it as a null
 * and the output would lie.  For a deliberate null, json_object_object_add. */
void cli_json_add(json_object *o, const char *key, json_object *v);
void cli_json_push(json_object *a, json_object *v);

/* Prints o (taken: freed here) to f with one trailing newline and flushes
 * it.  Nothing is printed when o is NULL or a cli_json_add failed; a write
 * that fails (stdout closed, disk full) is an error too.  CLI_OK, or
 * CLI_FAILED with a message; main's exit code is CLI_FAILED either way
 * (cli_output_end). */
int cli_fprint_json(FILE *f, json_object *o, int flags);
static inline int cli_print_json(json_object *o, int flags)
{
    return cli_fprint_json(stdout, o, flags);
}

/* main's last word: stdout flushed and checked (output lost to a closed
 * pipe or a full disk is a failure, not silence).  ex, or CLI_FAILED
 * when the command had succeeded but its output did not. */
int cli_output_end(int ex);

/* Every string in the document o that is not valid UTF-8 becomes its
 * U+FFFD form, and where it is an object's member (or all strings of
 * an array that is), KEY_base64 is added beside it with the exact bytes,
 * as cs_json_add_name()/cs_json_add_names() write them.  A string
 * directly inside another array gets the U+FFFD form only; a member whose
 * name is not UTF-8 is left out.  0 or
 * -ENOMEM (o is then valid UTF-8 in part). */
int cli_json_utf8(json_object *o);

#endif
