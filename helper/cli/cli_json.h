/* SPDX-License-Identifier: MIT */
/* JSON another process wrote (the agent's replies), printed by the CLI:
 * brought under the rule of every string in JSON output (util/json.h). */
#ifndef CS_CLI_CLI_JSON_H
#define CS_CLI_CLI_JSON_H

#include <json-c/json.h>

/* Every string in the document o that is not valid UTF-8 becomes its
 * U+FFFD form, and where it is an object's member (or all strings of
 * an array that is), KEY_base64 is added beside it with the exact bytes,
 * as cs_json_add_name()/cs_json_add_names() write them.  A string
 * directly inside another array gets the U+FFFD form only; a member whose
 * name is not UTF-8 is left out.  0 or
 * -ENOMEM (o is then valid UTF-8 in part). */
int cli_json_utf8(json_object *o);

#endif
