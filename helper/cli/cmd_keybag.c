/* SPDX-License-Identifier: MIT */
/* cloudseal keybag dump: the structure of your keybag, never a secret. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "cli.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "unlock_common.h"
#include "account/account.h"
#include "crypto/keybag.h"
#include "util/log.h"
#include "util/macros.h"

static int64_t get_int(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static const char *get_str(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static void print_text(json_object *d)
{
    json_object *slots, *payload;

    printf("Keybag of %s (from %s)\n", get_str(d, "user"), get_str(d, "source"));
    printf("  version:     %" PRId64 "\n", get_int(d, "version"));
    printf("  account id:  %s\n", get_str(d, "account_id"));
    printf("  generation:  %" PRId64 "\n", get_int(d, "generation"));
    printf("  slots:\n");
    json_object_object_get_ex(d, "slots", &slots);
    for (size_t i = 0; i < json_object_array_length(slots); i++) {
        json_object *s = json_object_array_get_idx(slots, i), *kdf;
        printf("    %-3" PRId64 " %-9s", get_int(s, "id"), get_str(s, "type"));
        if (json_object_object_get_ex(s, "kdf", &kdf))
            printf(" %s, %" PRId64 " passes, %" PRId64 " MiB", get_str(kdf, "algorithm"),
                   get_int(kdf, "ops"), get_int(kdf, "memory") >> 20);
        printf("\n");
    }
    if (json_object_object_get_ex(d, "payload", &payload))
        printf("  payload:     %" PRId64 " bytes, encrypted\n", get_int(payload, "ciphertext_bytes"));
}

static int dump(bool json, bool cache_only)
{
    const char *user = cli_user();
    cs_keybag *kb = NULL;
    json_object *d = NULL;
    bool from_cache = false;
    int r = cs_account_load_keybag(cli_config(), user, cache_only ? CS_UNLOCK_CACHE_ONLY : 0, &kb,
                                   &from_cache);

    if (r < 0)
        return cli_report(r, "cannot read your keybag");
    r = cs_keybag_describe(kb, &d);
    cs_keybag_free(kb);
    if (r < 0)
        return cli_report(r, "keybag dump");
    cli_json_add(d, "source", json_object_new_string(from_cache ? "cache" : "storage"));
    if (json)
        return cli_print_json(d, JSON_C_TO_STRING_PRETTY);
    print_text(d);
    json_object_put(d);
    return CLI_OK;
}

static int keybag_dump(int argc, char **argv)
{
    static const struct option opts[] = {
        { "cache-only", no_argument, NULL, 'c' },
        {}
    };
    bool cache_only = false;
    int c;

    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'c': cache_only = true; break;
        default: return cli_opt_exit(c);
        }
    }
    return dump(cli.json, cache_only);
}

static const cs_verb keybag_commands[] = {
#define KEYBAG_COMMAND(name, min, max, flags, fn, summary, usage) { name, min, max, flags, fn, summary, usage },
#include "keybag_commands.def"
#undef KEYBAG_COMMAND
};

int cmd_keybag(int argc, char **argv)
{
    return cli_sub_dispatch(keybag_commands, CS_ARRAY_SIZE(keybag_commands), argc, argv, NULL);
}
