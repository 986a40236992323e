/* SPDX-License-Identifier: MIT */
/* Fuzz the strict JSON entry point and the field-table dispatcher with a
 * table of every type (the readers' own targets fuzz their tables). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/json.h"

typedef struct rec {
    char *name;
    char host[8];
    int64_t time;
    uint64_t size;
    uint32_t uid;
    int count;
    bool flag;
    double duration;
    uint8_t key[4], id[2];
} rec;

static int nested(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    static const cs_json_field inner[] = { CS_JSON_I64("time", rec, time, -3, 3, CS_JSON_MANDATORY), {} };

    return cs_json_dispatch(v, inner, CS_JSON_REFUSE_UNKNOWN, base, err);
}

static int array(const cs_json_field *f, json_object *v, void *base, cs_json_error *err)
{
    return json_object_array_length(v) > 3 ? cs_json_fail(err, "field '%s' too long", f->name) : 0;
}

static const cs_json_field fields[] = {
    CS_JSON_STRING("name", rec, name, 16, CS_JSON_MANDATORY),
    CS_JSON_STRBUF("host", rec, host, 0),
    CS_JSON_I64("time", rec, time, -100, 100, 0),
    CS_JSON_U64("size", rec, size, 0, 0, 0),
    CS_JSON_U32("uid", rec, uid, 1, 70000, 0),
    CS_JSON_INT("count", rec, count, -5, 5, 0),
    CS_JSON_BOOL("flag", rec, flag, 0),
    CS_JSON_DOUBLE("duration", rec, duration, 0),
    CS_JSON_B64("key", rec, key, 0),
    CS_JSON_HEX("id", rec, id, 0),
    CS_JSON_OBJECT("nested", nested, 0),
    CS_JSON_ARRAY("items", array, 0),
    {},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_object *o = NULL;
    cs_json_error err;
    rec x;

    if (cs_json_parse_ex((const char *)data, size, 4096, 4, &o, NULL) < 0)
        return 0;
    for (unsigned flags = 0; flags <= CS_JSON_REFUSE_UNKNOWN; flags++) {
        memset(&x, 0, sizeof(x));
        if (cs_json_dispatch(o, fields, flags, &x, &err) == 0 &&
            (!x.name || strlen(x.host) > 7 || x.time < -100 || x.time > 100 || (x.uid && (x.uid < 1 || x.uid > 70000)) || x.count < -5 || x.count > 5))
            __builtin_trap();
        free(x.name);
    }
    json_object_put(o);
    return 0;
}
