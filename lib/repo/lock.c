/* SPDX-License-Identifier: MIT */
/* Repository locks: shared for backup/forget, exclusive for prune.
 * A lock is a sealed JSON object locks/<random id>; see docs/repository.md
 * for the protocol and when a lock counts as stale. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <sodium.h>
#include "repo/repo_int.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/parse.h"

#define LOCK_STALE_SECONDS (30 * 60)
#define LOCK_REFRESH_SECONDS (5 * 60)

/* Start time of a process in clock ticks since boot (field 22 of
 * /proc/PID/stat): with the pid it names the process even after pid reuse. */
static unsigned long long proc_start(pid_t pid)
{
    char path[64], buf[1024];
    FILE *f;
    size_t n;
    char *p, *e;
    uint64_t v = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may contain spaces and parentheses */
    if (!p)
        return 0;
    /* after ") " comes field 3; skip to field 22 */
    for (int field = 2; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    /* the kernel writes these fields, but a malformed one must not become a
     * start time: 0 means "unknown" to every caller */
    if (p && (e = strchr(p + 1, ' ')))
        *e = '\0';
    if (p && cs_parse_uint(p + 1, 1, UINT64_MAX, &v) < 0)
        v = 0;
    return v;
}

static int write_lock(cs_repo *r, int flags)
{
    char host[256] = "";
    json_object *o = json_object_new_object();
    const char *txt;
    int rc;

    gethostname(host, sizeof(host) - 1);
    json_object_object_add(o, "host", json_object_new_string(host));
    json_object_object_add(o, "pid", json_object_new_int64(getpid()));
    json_object_object_add(o, "start", json_object_new_uint64(proc_start(getpid())));
    json_object_object_add(o, "time", json_object_new_int64(time(NULL)));
    json_object_object_add(o, "exclusive", json_object_new_boolean(r->lock_exclusive));
    txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    rc = cs_repo_put_sealed(r, "locks", CS_OBJ_LOCK, &r->lock_id, txt, strlen(txt), flags);
    json_object_put(o);
    return rc;
}

typedef struct lock_info {
    char host[256];
    int64_t pid, time;
    uint64_t start;
    bool exclusive;
} lock_info;

/* Every member optional, as written by any cloudseal so far; other
 * members are ignored. */
static const cs_json_field lock_fields[] = {
    CS_JSON_STRBUF("host", lock_info, host, 0),
    CS_JSON_I64("pid", lock_info, pid, 0, 0, 0),
    CS_JSON_U64("start", lock_info, start, 0, 0, 0),
    CS_JSON_I64("time", lock_info, time, 0, 0, 0),
    CS_JSON_BOOL("exclusive", lock_info, exclusive, 0),
    {},
};

/* A lock object's plaintext (read by cs_repo_get_sealed_each, several at
 * once: one round trip per CS_REPO_FETCH_AT_ONCE locks, not one per lock). */
static int parse_lock(const cs_buf *pt, lock_info *li)
{
    _cleanup_json_ json_object *o = NULL;
    cs_json_error err = { "not a JSON object" };
    int rc;

    memset(li, 0, sizeof(*li));
    rc = cs_json_parse_object((const char *)pt->data, pt->len, pt->len, CS_JSON_MAX_DEPTH, &o, NULL);
    if (rc == 0)
        rc = cs_json_dispatch(o, lock_fields, 0, li, &err);
    if (rc == -EBADMSG)
        log_warning("lock: %s", err.msg);
    return rc;
}

static bool lock_stale(const lock_info *li)
{
    char host[256] = "";

    if (time(NULL) - li->time > LOCK_STALE_SECONDS)
        return true;
    gethostname(host, sizeof(host) - 1);
    if (strcmp(host, li->host) == 0 && li->pid > 0 && li->pid < 1 << 22) {
        if (kill((pid_t)li->pid, 0) < 0 && errno == ESRCH)
            return true;
        if (li->start && proc_start((pid_t)li->pid) != li->start)
            return true;
    }
    return false;
}

static void *refresh_thread(void *arg)
{
    cs_repo *r = arg;
    struct timespec ts;

    pthread_mutex_lock(&r->lock_mu);
    while (!r->lock_stop) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += LOCK_REFRESH_SECONDS;
        if (pthread_cond_timedwait(&r->lock_cv, &r->lock_mu, &ts) == ETIMEDOUT && !r->lock_stop) {
            pthread_mutex_unlock(&r->lock_mu);
            if (write_lock(r, CS_PUT_REPLACE) < 0)
                log_warning("could not refresh the repository lock");
            pthread_mutex_lock(&r->lock_mu);
        }
    }
    pthread_mutex_unlock(&r->lock_mu);
    return NULL;
}

/* A lock's id is random: a plain PUT, which also rewrites it on refresh.
 * (If-None-Match would guard against nothing and cost the probe of
 * put_immutable, or a HEAD, on S3.) */
int cs_repo_lock_put(cs_repo *r, bool exclusive)
{
    randombytes_buf(r->lock_id.b, sizeof(r->lock_id.b));
    r->lock_exclusive = exclusive;
    r->lock_time = time(NULL);
    return write_lock(r, CS_PUT_REPLACE);
}

void cs_repo_lock_drop(cs_repo *r)
{
    char key[1200], hex[65];
    int rc;

    cs_repo_key(r, "locks", &r->lock_id, key, sizeof(key));
    rc = cs_storage_del(r->st, key);
    if (rc < 0 && rc != -ENOENT) { /* what we did is done: only the lock is left over */
        cs_id_hex(&r->lock_id, hex);
        log_warning_errno(rc, "could not remove the repository lock locks/%s (%m): it keeps a prune out "
                          "until it is stale (at once on this machine, after 30 minutes on others); "
                          "then 'cloudseal locks --remove-stale' removes it", hex);
    }
}

/* The lock objects being read, for cs_repo_get_sealed_each()'s callbacks. */
typedef struct lock_scan {
    cs_repo *r;
    const cs_id *ids;
    cs_lock_entry *v; /* cs_repo_list_locks() only */
    size_t k;
} lock_scan;

/* One other lock, as fetched: a conflict stops the scan with -EBUSY. */
static int check_one(void *ud, size_t i, int rc, const cs_buf *pt)
{
    lock_scan *s = ud;
    lock_info li;

    if (rc == 0)
        rc = parse_lock(pt, &li);
    if (rc == -ENOENT)
        return 0; /* released while we looked */
    if (rc < 0) {
        char hex[65];
        cs_id_hex(&s->ids[i], hex);
        log_warning("lock object locks/%s is unreadable; ignoring it", hex);
        return 0;
    }
    if (lock_stale(&li) || !(s->r->lock_exclusive || li.exclusive))
        return 0;
    log_error("the repository is locked (%s) by process %lld on %s since %lld s; "
              "try again when it has finished", li.exclusive ? "exclusively" : "shared",
              (long long)li.pid, li.host, (long long)time(NULL) - li.time);
    return -EBUSY;
}

int cs_repo_lock_check(cs_repo *r, const cs_id *ids, size_t n)
{
    _cleanup_free_ cs_id *others = malloc((n ? n : 1) * sizeof(*others));
    size_t k = 0;
    int rc;

    if (!others) {
        cs_repo_lock_drop(r);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (memcmp(ids[i].b, r->lock_id.b, CS_ID_LEN) != 0)
            others[k++] = ids[i];
    rc = cs_repo_get_sealed_each(r, "locks", CS_OBJ_LOCK, others, k, check_one,
                                 &(lock_scan){ .r = r, .ids = others });
    if (rc < 0) {
        cs_repo_lock_drop(r);
        return rc;
    }
    r->has_lock = true;
    r->lock_stop = false;
    if (pthread_create(&r->lock_thread, NULL, refresh_thread, r) == 0)
        r->lock_thread_running = true;
    return 0;
}

int cs_repo_lock(cs_repo *r, bool exclusive)
{
    _cleanup_free_ cs_id *ids = NULL;
    size_t n = 0;
    int rc = cs_repo_lock_put(r, exclusive);

    if (rc < 0)
        return rc;
    /* only now that ours is stored: a writer listing after this sees it */
    rc = cs_repo_list_ids(r, "locks", &ids, &n);
    if (rc < 0) {
        cs_repo_lock_drop(r);
        return rc;
    }
    return cs_repo_lock_check(r, ids, n);
}

void cs_repo_unlock(cs_repo *r)
{
    if (!r->has_lock)
        return;
    if (r->lock_thread_running) {
        pthread_mutex_lock(&r->lock_mu);
        r->lock_stop = true;
        pthread_cond_signal(&r->lock_cv);
        pthread_mutex_unlock(&r->lock_mu);
        pthread_join(r->lock_thread, NULL);
        r->lock_thread_running = false;
    }
    cs_repo_lock_drop(r);
    r->has_lock = false;
}

static int list_one(void *ud, size_t i, int lr, const cs_buf *pt)
{
    lock_scan *s = ud;
    cs_lock_entry *e = &s->v[s->k];
    lock_info li;

    if (lr == 0)
        lr = parse_lock(pt, &li);
    if (lr == -ENOENT)
        return 0; /* released while we looked */
    if (lr < 0 && lr != -EBADMSG && lr != -EFBIG && lr != -E2BIG)
        return lr; /* an outage is not a verdict on the lock: never report it unreadable (and so
                    * removable) for that */
    e->id = s->ids[i];
    e->ours = s->r->has_lock && memcmp(s->ids[i].b, s->r->lock_id.b, CS_ID_LEN) == 0;
    if (lr < 0) {
        e->unreadable = true;
    } else {
        memcpy(e->host, li.host, sizeof(e->host));
        e->pid = li.pid;
        e->time = li.time;
        e->exclusive = li.exclusive;
        e->stale = !e->ours && lock_stale(&li);
    }
    s->k++;
    return 0;
}

int cs_repo_list_locks(cs_repo *r, cs_lock_entry **out, size_t *n)
{
    _cleanup_free_ cs_id *ids = NULL;
    size_t nids = 0;
    lock_scan s = { .r = r };
    int rc = cs_repo_list_ids(r, "locks", &ids, &nids);

    *out = NULL;
    *n = 0;
    if (rc < 0)
        return rc;
    s.ids = ids;
    s.v = calloc(nids ? nids : 1, sizeof(*s.v));
    if (!s.v)
        return -ENOMEM;
    rc = cs_repo_get_sealed_each(r, "locks", CS_OBJ_LOCK, ids, nids, list_one, &s);
    if (rc < 0) {
        free(s.v);
        return rc;
    }
    *out = s.v;
    *n = s.k;
    return 0;
}

int cs_repo_remove_lock(cs_repo *r, const cs_id *id)
{
    char key[1200];

    cs_repo_key(r, "locks", id, key, sizeof(key));
    return cs_storage_del(r->st, key);
}

int cs_repo_remove_stale_locks(cs_repo *r)
{
    cs_lock_entry *v;
    size_t n;
    int removed = 0, rc = cs_repo_list_locks(r, &v, &n);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((v[i].stale || v[i].unreadable) && !v[i].ours && cs_repo_remove_lock(r, &v[i].id) == 0)
            removed++;
    free(v);
    return removed;
}
