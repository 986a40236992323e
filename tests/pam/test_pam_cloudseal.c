/* SPDX-License-Identifier: MIT */
/* pam_cloudseal.so under pam_wrapper (TESTING-NOTES §2): the real module,
 * the real cloudseal-helper, the real kernel keyring; pam_set_items.so feeds
 * PAM_AUTHTOK / PAM_OLDAUTHTOK, nss_wrapper provides the users alice and
 * bob, nothing in /etc is touched.
 *
 * main() prepares a temporary directory (users, config, pam.d services,
 * a shim that runs the helper with nss_wrapper, since the module execs it
 * with an empty environment), then re-executes itself with pam_wrapper and
 * nss_wrapper preloaded - under $CS_PAM_TEST_WRAP (e.g. valgrind) if set.
 * Needs root (the helper drops to the users' uids). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <keyutils.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <libpamtest.h>

#include "config/config.h"
#include "account/account.h"
#include "crypto/keyring.h"
#include "fleet/fleet.h"
#include "util/secmem.h"

#ifndef BUILD_DIR
#error "BUILD_DIR must name the build directory"
#endif
#ifndef ASAN_LIB
#define ASAN_LIB ""
#endif

#ifndef MULTIARCH
#error "MULTIARCH must name the multiarch triplet (dpkg-architecture -qDEB_HOST_MULTIARCH)"
#endif
#define PW_DIR "/usr/lib/" MULTIARCH "/pam_wrapper"
#define UID_SLOTS 64
#define UID_BASE 48000 /* tests/integration/uids.py: local(i) = UID_BASE + slot * 16 + i */

/* The test users' uids, of this run's own: the kernel keyring is per uid
 * machine-wide, so two checkouts running this at once must not share
 * alice's.  See take_uid_slot(). */
static int alice_uid, bob_uid;

static char dir[256];
static cs_config *cfg;
static uint8_t alice_amk[CS_KEY_BYTES];
static char alice_id[CS_ACCOUNT_ID_MAX];
static char alice_recovery[128];

/* ---------------- fixtures ---------------- */

static void write_text(const char *name, int mode, const char *fmt, ...)
{
    char path[PATH_MAX];
    va_list ap;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    chmod(path, (mode_t)mode);
}

static void write_service(const char *name, const char *opts)
{
    char path[PATH_MAX + 32];
    const char *mod = BUILD_DIR "/pam_cloudseal.so";

    snprintf(path, sizeof(path), "svc/%s", name);
    write_text(path, 0644,
               "auth     required %s/pam_set_items.so\n"
               "auth     optional %s %s\n"
               "session  required pam_permit.so\n"
               "session  optional %s %s\n"
               "password required %s/pam_set_items.so\n"
               "password optional %s %s\n",
               PW_DIR, mod, opts, mod, opts, PW_DIR, mod, opts);
}

/* authoritative: the module's own answer is the stack's (required) */
static void write_fleet_service(const char *name, const char *opts)
{
    char path[PATH_MAX + 32];
    const char *mod = BUILD_DIR "/pam_cloudseal.so";

    snprintf(path, sizeof(path), "svc/%s", name);
    write_text(path, 0644,
               "auth     required %s/pam_set_items.so\n"
               "auth     required %s %s authoritative\n"
               "account  required %s %s authoritative\n",
               PW_DIR, mod, opts, mod, opts);
}

static void prepare(void)
{
    char opts[3 * PATH_MAX];

    snprintf(dir, sizeof(dir), "/tmp/cs-pamtest-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    chmod(dir, 0755);
    mkdir(strcat(strcpy(opts, dir), "/svc"), 0755);
    write_text("passwd", 0644,
               "alice:x:%d:%d:Alice:/nonexistent:/bin/sh\nbob:x:%d:%d:Bob:/nonexistent:/bin/sh\n",
               alice_uid, alice_uid, bob_uid, bob_uid);
    write_text("group", 0644, "alice:x:%d:\nbob:x:%d:\n", alice_uid, bob_uid);
    write_text("cloudseal.conf", 0644,
               "[storage]\nurl = file://%s/storage\n[paths]\nstate_dir = %s/state\n"
               "[kdf]\ntarget_time_ms = 1\nmemory = 8M\n[fleet]\ncache = %s/directory.cache\n", dir, dir, dir);
    /* ASAN_OPTIONS: an ASan helper would refuse nss_wrapper coming first */
    write_text("helper.sh", 0755,
               "#!/bin/sh\nexport LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD=%s/passwd "
               "NSS_WRAPPER_GROUP=%s/group ASAN_OPTIONS=verify_asan_link_order=0\n"
               "exec %s/cloudseal-helper \"$@\"\n", dir, dir, BUILD_DIR);
    /* counts its runs: auth must run none, a password login's session one */
    write_text("counting.sh", 0755, "#!/bin/sh\necho \"$*\" >> %s/helper-runs\nexec %s/helper.sh \"$@\"\n",
               dir, dir);
    write_text("crash.sh", 0755, "#!/bin/sh\nkill -SEGV $$\n");
    write_text("slow.sh", 0755, "#!/bin/sh\nexec sleep 30\n");
    /* helpers that say yes (exit 0) without a whole key: no key frame, a
     * frame announcing 32 bytes that brings 5, a whole frame of 16 bytes */
    write_text("nokey.sh", 0755, "#!/bin/sh\ncat >/dev/null\nexit 0\n");
    write_text("cutkey.sh", 0755, "#!/bin/sh\ncat >/dev/null\nprintf '\\000\\000\\000\\040short'\nexit 0\n");
    write_text("smallkey.sh", 0755,
               "#!/bin/sh\ncat >/dev/null\nprintf '\\000\\000\\000\\020sixteen bytes!!!'\nexit 0\n");
    write_text("svc/other", 0644, "");

#define OPTS(extra) (snprintf(opts, sizeof(opts), "config=%s/cloudseal.conf helper=%s/helper.sh debug %s", \
                              dir, dir, extra), opts)
    write_service("cs", OPTS(""));
    write_service("cs-reboot", OPTS("lock=reboot"));
    write_service("cs-try", OPTS("try_first_pass"));
    write_service("cs-park", OPTS("park park_timeout=5"));
    write_fleet_service("cs-fleet", OPTS(""));
    snprintf(opts, sizeof(opts), "config=%s/cloudseal.conf helper=%s/counting.sh", dir, dir);
    write_service("cs-count", opts);
    /* piggyback lines, and the fleet profile's account line as
     * user@.service runs it */
    write_text("svc/systemd-user", 0644,
               "auth     required %s/pam_set_items.so\n"
               "auth     optional %s/pam_cloudseal.so %s\n"
               "account  required %s/pam_cloudseal.so %s authoritative\n"
               "session  required pam_permit.so\n"
               "session  optional %s/pam_cloudseal.so %s\n",
               PW_DIR, BUILD_DIR, OPTS(""), BUILD_DIR, opts, BUILD_DIR, opts);
    snprintf(opts, sizeof(opts), "config=%s/cloudseal.conf helper=/nonexistent/cloudseal-helper", dir);
    write_service("cs-nohelper", opts);
    snprintf(opts, sizeof(opts), "config=%s/cloudseal.conf helper=%s/crash.sh", dir, dir);
    write_service("cs-crash", opts);
    snprintf(opts, sizeof(opts), "config=%s/cloudseal.conf helper=%s/slow.sh timeout=1", dir, dir);
    write_service("cs-slow", opts);
    snprintf(opts, sizeof(opts), "config=%s/cloudseal.conf helper=%s/crash.sh", dir, dir);
    write_fleet_service("cs-fleet-crash", opts);
    snprintf(opts, sizeof(opts), "config=%s/cloudseal.conf helper=%s/slow.sh timeout=1", dir, dir);
    write_fleet_service("cs-fleet-slow", opts);
    snprintf(opts, sizeof(opts), "config=%s/cloudseal.conf helper=/nonexistent/cloudseal-helper", dir);
    write_fleet_service("cs-fleet-nohelper", opts);
    for (const char *const *h = (const char *const[]){ "nokey", "cutkey", "smallkey", NULL }; *h; h++) {
        char name[64];

        snprintf(opts, sizeof(opts), "config=%s/cloudseal.conf helper=%s/%s.sh", dir, dir, *h);
        snprintf(name, sizeof(name), "cs-fleet-%s", *h);
        write_fleet_service(name, opts);
    }
#undef OPTS
}

/* The slot scheme of tests/integration/uids.py: the first of UID_SLOTS
 * lock files under /run/lock this process can flock.  The file stays open
 * (no O_CLOEXEC) across the re-exec, so the lock lasts the whole run and
 * ends with it, and the slot goes along in CS_PAM_TEST_UID_SLOT. */
static int take_uid_slot(void)
{
    const char *s = getenv("CS_PAM_TEST_UID_SLOT");
    char buf[64];

    if (s) {
        long n = strtol(s, NULL, 10);
        return n >= 0 && n < UID_SLOTS ? (int)n : -EINVAL;
    }
    for (int n = 0; n < UID_SLOTS; n++) {
        snprintf(buf, sizeof(buf), "/run/lock/cloudseal-test-uids.%d", n);
        int fd = open(buf, O_RDWR | O_CREAT, 0600);
        if (fd < 0)
            return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            snprintf(buf, sizeof(buf), "%d", n);
            setenv("CS_PAM_TEST_UID_SLOT", buf, 1);
            return n; /* fd left open on purpose: it holds the lock */
        }
        close(fd);
    }
    return -EBUSY;
}

static void reexec(char **argv)
{
    char svc[PATH_MAX + 8], pw[PATH_MAX + 8], gr[PATH_MAX + 8], preload[PATH_MAX];
    const char *wrap = getenv("CS_PAM_TEST_WRAP");
    char *args[64];
    int n = 0;

    snprintf(svc, sizeof(svc), "%s/svc", dir);
    snprintf(pw, sizeof(pw), "%s/passwd", dir);
    snprintf(gr, sizeof(gr), "%s/group", dir);
    /* ASan wants its runtime first in the list */
    snprintf(preload, sizeof(preload), "%s%slibpam_wrapper.so libnss_wrapper.so", ASAN_LIB, *ASAN_LIB ? " " : "");
    setenv("CS_PAM_TEST_DIR", dir, 1);
    setenv("PAM_WRAPPER", "1", 1);
    setenv("PAM_WRAPPER_SERVICE_DIR", svc, 1);
    setenv("NSS_WRAPPER_PASSWD", pw, 1);
    setenv("NSS_WRAPPER_GROUP", gr, 1);
    setenv("LD_PRELOAD", preload, 1);
    if (wrap && *wrap) {
        static char buf[1024];
        snprintf(buf, sizeof(buf), "%s", wrap);
        for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 60; t = strtok_r(NULL, " ", &save))
            args[n++] = t;
    }
    /* our own path: under a wrapper /proc/self/exe would name the wrapper */
    {
        static char self[PATH_MAX];
        ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (len <= 0) {
            perror("readlink /proc/self/exe");
            exit(1);
        }
        self[len] = '\0';
        args[n++] = self;
    }
    for (int i = 1; argv[i] && n < 63; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    execvp(args[0], args);
    perror("exec");
    exit(1);
}

/* ---------------- helpers ---------------- */

static void sh(const char *fmt, ...)
{
    char cmd[4 * PATH_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* Run fn in a child that is really uid (setgroups, setresgid, setresuid);
 * returns its exit status. */
static int as_uid(uid_t uid, int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
            _exit(100);
        _exit(fn(arg));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* 0: the key is there and is alice's AMK; 2: no key; 1: wrong; 3: error */
static int load_alice_key(void *arg)
{
    cs_amk *amk = NULL;
    int r = cs_keyring_load(alice_id, &amk);
    int *serial_fd = arg;

    if (r == -ENOKEY)
        return 2;
    if (r < 0)
        return 3;
    r = memcmp(amk->key, alice_amk, CS_KEY_BYTES) ? 1 : 0;
    cs_amk_free(amk);
    if (serial_fd) {
        key_serial_t k = (key_serial_t)keyctl_search(KEY_SPEC_USER_KEYRING, "user", "", 0);
        char desc[128];
        snprintf(desc, sizeof(desc), "cloudseal:amk:%s", alice_id);
        k = (key_serial_t)keyctl_search(KEY_SPEC_USER_KEYRING, "user", desc, 0);
        if (write(*serial_fd, &k, sizeof(k)) != sizeof(k))
            return 3;
    }
    return r;
}

/* bob: 0 when he can neither find alice's key nor read it by its serial */
static int bob_reads(void *arg)
{
    key_serial_t k = *(key_serial_t *)arg;
    char buf[64];
    cs_amk *amk = NULL;

    if (cs_keyring_load(alice_id, &amk) != -ENOKEY)
        return 1;
    if (keyctl_read(k, buf, sizeof(buf)) >= 0 || errno != EACCES)
        return 2;
    return 0;
}

static int clear_keyring(void *arg)
{
    (void)arg;
    (void)keyctl_link(KEY_SPEC_USER_KEYRING, KEY_SPEC_PROCESS_KEYRING);
    (void)keyctl_clear(KEY_SPEC_USER_KEYRING);
    return 0;
}

static int alice_key_state(void)
{
    return as_uid(alice_uid, load_alice_key, NULL);
}

/* Fresh storage and state, a fresh enrollment of alice with `password`. */
static void enroll_alice(const char *password)
{
    cs_secret *pw = NULL, *code = NULL;
    cs_amk *amk = NULL;

    as_uid(alice_uid, clear_keyring, NULL);
    sh("rm -rf %s/storage %s/state && mkdir -p %s/storage", dir, dir, dir);
    assert_int_equal(cs_secret_new(&pw), 0);
    assert_int_equal(cs_secret_set(pw, password, strlen(password)), 0);
    assert_int_equal(cs_account_enroll(cfg, "alice", pw, false, &code, &amk), 0);
    memcpy(alice_amk, amk->key, CS_KEY_BYTES);
    snprintf(alice_recovery, sizeof(alice_recovery), "%s", code->data);
    assert_int_equal(cs_account_id(cfg, "alice", alice_id), 0);
    /* as if alice had enrolled herself: her objects in file:// storage are hers */
    sh("chown -R %d:%d %s/storage/users", alice_uid, alice_uid, dir);
    cs_amk_free(amk);
    cs_secret_free(code);
    cs_secret_free(pw);
}

/* Does `secret` (a password, or a recovery code) unwrap alice's keybag? */
static int unwraps(const char *secret, int flags)
{
    cs_secret *s = NULL;
    cs_amk *amk = NULL;
    int r;

    assert_int_equal(cs_secret_new(&s), 0);
    assert_int_equal(cs_secret_set(s, secret, strlen(secret)), 0);
    r = cs_account_unlock(cfg, "alice", s, flags | CS_UNLOCK_CACHE_ONLY, &amk);
    if (r == 0) {
        assert_memory_equal(amk->key, alice_amk, CS_KEY_BYTES);
        cs_amk_free(amk);
    }
    cs_secret_free(s);
    return r;
}

/* stderr (where pam_wrapper sends pam_syslog) captured into a file */
static int saved_stderr = -1;
static char log_path[PATH_MAX + 16];

static void capture_begin(void)
{
    int fd;

    snprintf(log_path, sizeof(log_path), "%s/log.txt", dir);
    fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    /* pam_wrapper prints pam_syslog lines below LOG_ERR only at level >= 2 */
    setenv("PAM_WRAPPER_DEBUGLEVEL", "2", 1);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* teardown of every test: a failed assertion leaves capture_begin's
 * redirection in place, and cmocka's report must reach the real stderr */
static int restore_stderr(void **state)
{
    (void)state;
    unsetenv("PAM_WRAPPER_DEBUGLEVEL");
    if (saved_stderr >= 0) {
        fflush(stderr);
        dup2(saved_stderr, 2);
        close(saved_stderr);
        saved_stderr = -1;
    }
    return 0;
}

static char *capture_end(void)
{
    static char buf[16384];
    ssize_t n;
    int fd;

    restore_stderr(NULL);
    fd = open(log_path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* The generation of alice's keybag in storage (the authoritative copy). */
static int storage_generation(void)
{
    char path[PATH_MAX], buf[8192], *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/storage/users/alice/keybag", dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n > 0);
    buf[n] = '\0';
    p = strstr(buf, "\"generation\":");
    assert_non_null(p);
    return atoi(p + strlen("\"generation\":"));
}

static void login(const char *service, const char *authtok, struct pamtest_conv_data *conv, int expect_open)
{
    struct pam_testcase tests[] = {
        pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
        pam_test(PAMTEST_OPEN_SESSION, expect_open),
    };
    struct pamtest_conv_data none = { 0 };

    setenv("PAM_AUTHTOK", authtok, 1);
    assert_int_equal(run_pamtest(service, "alice", conv ? conv : &none, tests, NULL), PAMTEST_ERR_OK);
    unsetenv("PAM_AUTHTOK");
}

static void logout(const char *service)
{
    struct pam_testcase tests[] = { pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS) };
    struct pamtest_conv_data none = { 0 };

    assert_int_equal(run_pamtest(service, "alice", &none, tests, NULL), PAMTEST_ERR_OK);
}

/* ---------------- tests ---------------- */

static void auth_session_puts_key_in_users_keyring(void **state)
{
    int fds[2];
    key_serial_t serial = 0;

    enroll_alice("correct horse");
    login("cs", "correct horse", NULL, PAM_SUCCESS);
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(as_uid(alice_uid, load_alice_key, &fds[1]), 0);
    assert_int_equal(read(fds[0], &serial, sizeof(serial)), sizeof(serial));
    close(fds[0]);
    close(fds[1]);
    assert_true(serial > 0);
    /* another user finds nothing and cannot read it by serial */
    assert_int_equal(as_uid(bob_uid, bob_reads, &serial), 0);
    logout("cs");
    assert_int_equal(alice_key_state(), 2);
}

/* Option park (sshd's default): the key goes through root's keyring; the
 * handle is gone from the PAM environment after session open. */
static void parked_key_reaches_the_session_not_its_env(void **state)
{
    struct pam_testcase tests[] = {
        pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
        pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
        pam_test(PAMTEST_GETENVLIST, PAM_SUCCESS),
    };
    struct pamtest_conv_data none = { 0 };

    enroll_alice("correct horse");
    setenv("PAM_AUTHTOK", "correct horse", 1);
    assert_int_equal(run_pamtest("cs-park", "alice", &none, tests, NULL), PAMTEST_ERR_OK);
    unsetenv("PAM_AUTHTOK");
    for (char **e = tests[2].case_out.envlist; e && *e; e++)
        assert_null(strstr(*e, "CLOUDSEAL"));
    pamtest_free_env(tests[2].case_out.envlist);
    assert_int_equal(alice_key_state(), 0);
    logout("cs-park");
}

static void last_session_close_revokes(void **state)
{
    enroll_alice("correct horse");
    login("cs", "correct horse", NULL, PAM_SUCCESS);
    login("cs", "correct horse", NULL, PAM_SUCCESS); /* a second session */
    logout("cs");
    assert_int_equal(alice_key_state(), 0); /* one session still open */
    logout("cs");
    assert_int_equal(alice_key_state(), 2); /* the last one closed */
}

static void lock_reboot_keeps_key_after_last_session(void **state)
{
    enroll_alice("correct horse");
    login("cs-reboot", "correct horse", NULL, PAM_SUCCESS);
    logout("cs-reboot");
    assert_int_equal(alice_key_state(), 0);
}

static void wrong_password_login_proceeds_without_key(void **state)
{
    const char *answers[] = { "", NULL }; /* skip the drift question */
    struct pamtest_conv_data conv = { .in_echo_off = answers };
    char *log;

    enroll_alice("correct horse");
    capture_begin();
    login("cs", "not the password", &conv, PAM_SUCCESS);
    log = capture_end();
    assert_int_equal(alice_key_state(), 2);
    assert_non_null(strstr(log, "no previous password was given"));
    assert_int_equal(unwraps("correct horse", 0), 0); /* keybag untouched */
}

static void chauthtok_rewraps(void **state)
{
    struct pam_testcase tests[] = { pam_test(PAMTEST_CHAUTHTOK, PAM_SUCCESS) };
    struct pamtest_conv_data none = { 0 };

    enroll_alice("old password");
    setenv("PAM_OLDAUTHTOK", "old password", 1);
    setenv("PAM_AUTHTOK", "new password", 1);
    assert_int_equal(run_pamtest("cs", "alice", &none, tests, NULL), PAMTEST_ERR_OK);
    unsetenv("PAM_OLDAUTHTOK");
    unsetenv("PAM_AUTHTOK");
    assert_int_equal(unwraps("old password", 0), -EACCES);
    assert_int_equal(unwraps("new password", 0), 0);
    assert_int_equal(storage_generation(), 2); /* uploaded, not only cached */
    assert_int_equal(unwraps(alice_recovery, CS_UNLOCK_RECOVERY), 0);
    /* and the next login with the new password unlocks */
    login("cs", "new password", NULL, PAM_SUCCESS);
    assert_int_equal(alice_key_state(), 0);
    logout("cs");
}

static void chauthtok_with_wrong_old_password_changes_nothing(void **state)
{
    struct pam_testcase tests[] = { pam_test(PAMTEST_CHAUTHTOK, PAM_SUCCESS) };
    struct pamtest_conv_data none = { 0 };

    enroll_alice("old password");
    setenv("PAM_OLDAUTHTOK", "not it", 1);
    setenv("PAM_AUTHTOK", "new password", 1);
    assert_int_equal(run_pamtest("cs", "alice", &none, tests, NULL), PAMTEST_ERR_OK);
    unsetenv("PAM_OLDAUTHTOK");
    unsetenv("PAM_AUTHTOK");
    assert_int_equal(unwraps("old password", 0), 0);
    assert_int_equal(unwraps("new password", 0), -EACCES);
}

static void drift_repair_with_previous_password(void **state)
{
    const char *answers[] = { "password before", NULL };
    struct pamtest_conv_data conv = { .in_echo_off = answers };
    char *log;

    enroll_alice("password before");
    /* the login password was changed outside PAM (root's passwd, LDAP) */
    capture_begin();
    login("cs", "password after", &conv, PAM_SUCCESS);
    log = capture_end();
    assert_int_equal(alice_key_state(), 0);
    if (!strstr(log, "password drift repaired"))
        fail_msg("no repair in the log:\n%s", log);
    assert_int_equal(unwraps("password after", 0), 0);
    assert_int_equal(unwraps("password before", 0), -EACCES);
    assert_int_equal(storage_generation(), 2);
    logout("cs");
    /* the next login needs no question */
    login("cs", "password after", NULL, PAM_SUCCESS);
    assert_int_equal(alice_key_state(), 0);
    logout("cs");
}

static void drift_repair_with_recovery_key(void **state)
{
    const char *answers[2] = { NULL, NULL };
    struct pamtest_conv_data conv = { .in_echo_off = answers };

    enroll_alice("password before");
    answers[0] = alice_recovery;
    login("cs", "password after", &conv, PAM_SUCCESS);
    assert_int_equal(alice_key_state(), 0);
    assert_int_equal(unwraps("password after", 0), 0);
    logout("cs");
}

static void drift_repair_wrong_answer_changes_nothing(void **state)
{
    const char *answers[] = { "a guess", NULL };
    struct pamtest_conv_data conv = { .in_echo_off = answers };

    enroll_alice("password before");
    login("cs", "password after", &conv, PAM_SUCCESS);
    assert_int_equal(alice_key_state(), 2);
    assert_int_equal(unwraps("password before", 0), 0);
    assert_int_equal(unwraps("password after", 0), -EACCES);
}

static void try_first_pass_prompts_when_the_stack_has_no_password(void **state)
{
    const char *answers[] = { "correct horse", NULL };
    struct pamtest_conv_data conv = { .in_echo_off = answers };
    struct pam_testcase tests[] = {
        pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
        pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
    };

    enroll_alice("correct horse");
    unsetenv("PAM_AUTHTOK");
    /* by default the module never prompts: no password, no key */
    assert_int_equal(run_pamtest("cs", "alice", &conv, tests, NULL), PAMTEST_ERR_OK);
    assert_int_equal(alice_key_state(), 2);
    logout("cs");
    /* with try_first_pass it asks through the conversation */
    assert_int_equal(run_pamtest("cs-try", "alice", &conv, tests, NULL), PAMTEST_ERR_OK);
    assert_int_equal(alice_key_state(), 0);
    logout("cs-try");
}

static void oversized_password_is_refused_quietly(void **state)
{
    static char big[5000];
    char *log;

    enroll_alice("correct horse");
    memset(big, 'x', sizeof(big) - 1);
    capture_begin();
    login("cs", big, NULL, PAM_SUCCESS);
    log = capture_end();
    assert_int_equal(alice_key_state(), 2);
    assert_non_null(strstr(log, "longer than 4096 bytes"));
}

static void systemd_user_service_is_left_alone(void **state)
{
    enroll_alice("correct horse");
    login("systemd-user", "correct horse", NULL, PAM_SUCCESS);
    assert_int_equal(alice_key_state(), 2);
}

static void not_enrolled_is_quiet(void **state)
{
    char *log;

    enroll_alice("correct horse");
    sh("rm -rf %s/storage %s/state && mkdir -p %s/storage", dir, dir, dir);
    capture_begin();
    setenv("PAM_AUTHTOK", "correct horse", 1);
    {
        struct pam_testcase tests[] = {
            pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
            pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
            pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS),
        };
        struct pamtest_conv_data none = { 0 };
        /* the real helper: "not enrolled" is its answer, not a missing binary */
        assert_int_equal(run_pamtest("cs", "alice", &none, tests, NULL), PAMTEST_ERR_OK);
    }
    unsetenv("PAM_AUTHTOK");
    log = capture_end();
    assert_non_null(strstr(log, "user not enrolled"));
    assert_null(strstr(log, "cannot run"));
    assert_int_equal(alice_key_state(), 2);
}

static void corrupt_keybag_logged_and_login_proceeds(void **state)
{
    char *log;

    enroll_alice("correct horse");
    /* flip the keybag's MAC-protected content in the cache and storage */
    sh("for f in %s/storage/users/alice/keybag %s/state/keybags/alice/keybag; do "
       "sed -i 's/\"generation\": *1/\"generation\": 7/' \"$f\"; done", dir, dir);
    capture_begin();
    login("cs", "correct horse", NULL, PAM_SUCCESS);
    log = capture_end();
    assert_int_equal(alice_key_state(), 2);
    assert_non_null(strstr(log, "keys not unlocked for alice: the keybag is corrupt"));
}

static void helper_missing_crashing_or_hanging_login_proceeds(void **state)
{
    struct timespec t0, t1;
    char *log;

    enroll_alice("correct horse");
    capture_begin();
    login("cs-nohelper", "correct horse", NULL, PAM_SUCCESS);
    login("cs-crash", "correct horse", NULL, PAM_SUCCESS);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    login("cs-slow", "correct horse", NULL, PAM_SUCCESS); /* timeout=1, once (session open) */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    log = capture_end();
    assert_int_equal(alice_key_state(), 2);
    assert_true(t1.tv_sec - t0.tv_sec < 25); /* slow.sh sleeps 30 s: it was killed */
    assert_non_null(strstr(log, "cannot run /nonexistent/cloudseal-helper"));
    assert_non_null(strstr(log, "crashed"));
    assert_non_null(strstr(log, "did not finish within 1 s"));
}

/* ---------------- authoritative mode (fleet users) ---------------- */

/* Install a fleet directory cache holding alice (uid as in passwd), with
 * `pinned` as her account key (NULL: none), disabled or not. */
static void install_fleet_cache(const uint8_t *pinned, bool disabled)
{
    cs_directory *d = NULL;
    cs_fleet_user *u = NULL;
    cs_buf image = CS_BUF_INIT;
    char path[PATH_MAX];

    assert_int_equal(cs_directory_new(&d), 0);
    d->id_min = 40000;
    d->id_max = 50000;
    d->serial = 1;
    d->issued = time(NULL);
    d->expires = d->issued + 3600;
    assert_int_equal(cs_directory_add_user(d, "alice", &u), 0);
    u->uid = u->gid = alice_uid;
    u->private_group = true;
    u->home = strdup("/nonexistent");
    u->shell = strdup("/bin/sh");
    u->gecos = strdup("Alice");
    u->disabled = disabled;
    if (pinned) {
        u->has_key = true;
        memcpy(u->key, pinned, CS_FLEET_PK_BYTES);
    }
    assert_int_equal(cs_fleet_compile_cache(d, d->issued, &image), 0);
    snprintf(path, sizeof(path), "%s/directory.cache", dir);
    assert_int_equal(cs_fleet_install_cache(path, &image), 0);
    cs_buf_free(&image);
    cs_directory_free(d);
}

static void alice_pubkey(uint8_t pk[CS_FLEET_PK_BYTES])
{
    cs_amk *amk = NULL;

    assert_int_equal(cs_amk_from_bytes(alice_amk, CS_KEY_BYTES, &amk), 0);
    assert_int_equal(cs_amk_account_pubkey(amk, pk), 0);
    cs_amk_free(amk);
}

static void fleet_auth(const char *service, const char *password, int expect_auth, int expect_acct)
{
    struct pam_testcase tests[] = {
        pam_test(PAMTEST_AUTHENTICATE, expect_auth),
        pam_test(PAMTEST_ACCOUNT, expect_acct),
    };
    struct pamtest_conv_data none = { 0 };

    enum pamtest_err r;

    setenv("PAM_AUTHTOK", password, 1);
    r = run_pamtest(service, "alice", &none, tests, NULL);
    unsetenv("PAM_AUTHTOK");
    if (r == PAMTEST_ERR_CASE) {
        const struct pam_testcase *t = pamtest_failed_case(tests);
        fail_msg("%s: %s returned %d, expected %d", service,
                 t->pam_operation == PAMTEST_AUTHENTICATE ? "auth" : "account", t->op_rv, t->expected_rv);
    }
    assert_int_equal(r, PAMTEST_ERR_OK);
}

static void authoritative_decides_for_fleet_users(void **state)
{
    uint8_t pk[CS_FLEET_PK_BYTES], other[CS_FLEET_PK_BYTES];
    char path[PATH_MAX];

    enroll_alice("correct horse");
    snprintf(path, sizeof(path), "%s/directory.cache", dir);
    unlink(path);
    /* no directory: not a fleet user, the stack's other modules decide */
    fleet_auth("cs-fleet", "correct horse", PAM_USER_UNKNOWN, PAM_USER_UNKNOWN);
    alice_pubkey(pk);
    install_fleet_cache(pk, false);
    fleet_auth("cs-fleet", "correct horse", PAM_SUCCESS, PAM_SUCCESS);
    fleet_auth("cs-fleet", "wrong horse", PAM_AUTH_ERR, PAM_SUCCESS);
    /* a keybag whose key is not the pinned one */
    memcpy(other, pk, sizeof(other));
    other[0] ^= 1;
    install_fleet_cache(other, false);
    fleet_auth("cs-fleet", "correct horse", PAM_AUTH_ERR, PAM_SUCCESS);
    /* no key approved yet: no password login, the account exists */
    install_fleet_cache(NULL, false);
    fleet_auth("cs-fleet", "correct horse", PAM_AUTH_ERR, PAM_SUCCESS);
    install_fleet_cache(pk, true);
    fleet_auth("cs-fleet", "correct horse", PAM_AUTH_ERR, PAM_PERM_DENIED);
    /* fails closed when the helper crashes or hangs */
    install_fleet_cache(pk, false);
    fleet_auth("cs-fleet-crash", "correct horse", PAM_AUTHINFO_UNAVAIL, PAM_AUTHINFO_UNAVAIL);
    fleet_auth("cs-fleet-slow", "correct horse", PAM_AUTHINFO_UNAVAIL, PAM_AUTHINFO_UNAVAIL);
    unlink(path);
}

/* The authentication step alone: the account step asks the helper other
 * questions, which the stand-in helpers below answer with a bare yes. */
static void fleet_auth_only(const char *service, const char *password, int expect_auth)
{
    struct pam_testcase tests[] = { pam_test(PAMTEST_AUTHENTICATE, expect_auth) };
    /* an empty PAM_AUTHTOK makes the module ask: the user types the same */
    const char *answers[] = { password, NULL };
    struct pamtest_conv_data conv = { .in_echo_off = answers };
    enum pamtest_err r;

    setenv("PAM_AUTHTOK", password, 1);
    r = run_pamtest(service, "alice", &conv, tests, NULL);
    unsetenv("PAM_AUTHTOK");
    if (r == PAMTEST_ERR_CASE)
        fail_msg("%s: auth returned %d, expected %d", service, tests[0].op_rv, expect_auth);
    assert_int_equal(r, PAMTEST_ERR_OK);
}

/* Authoritative for fleet users: nothing but a clean yes with a whole key
 * is a yes.  A helper that exits 0 with no key or a cut or short one, a
 * missing helper, an empty and an oversized password: all refused. */
static void authoritative_fails_closed(void **state)
{
    uint8_t pk[CS_FLEET_PK_BYTES];
    static char big[5000];
    char path[PATH_MAX];

    enroll_alice("correct horse");
    alice_pubkey(pk);
    install_fleet_cache(pk, false);
    fleet_auth_only("cs-fleet", "correct horse", PAM_SUCCESS); /* the services below differ in this alone */
    fleet_auth_only("cs-fleet-nokey", "correct horse", PAM_AUTHINFO_UNAVAIL);
    fleet_auth_only("cs-fleet-cutkey", "correct horse", PAM_AUTHINFO_UNAVAIL);
    fleet_auth_only("cs-fleet-smallkey", "correct horse", PAM_AUTHINFO_UNAVAIL);
    fleet_auth_only("cs-fleet-nohelper", "correct horse", PAM_AUTHINFO_UNAVAIL);
    fleet_auth_only("cs-fleet", "", PAM_AUTH_ERR);
    memset(big, 'x', sizeof(big) - 1);
    fleet_auth_only("cs-fleet", big, PAM_AUTH_ERR);
    big[4096] = '\0'; /* the largest frame the helper takes: a wrong password, not a crash */
    fleet_auth_only("cs-fleet", big, PAM_AUTH_ERR);
    assert_int_equal(alice_key_state(), 2);
    snprintf(path, sizeof(path), "%s/directory.cache", dir);
    unlink(path);
}

/* The lines of helper-runs (one per helper run, its arguments), or -1. */
static int helper_runs(char *buf, size_t len)
{
    char path[PATH_MAX + 16];
    int fd, n = 0;
    ssize_t got;

    snprintf(path, sizeof(path), "%s/helper-runs", dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    buf[0] = '\0';
    if (fd < 0)
        return 0;
    got = read(fd, buf, len - 1);
    close(fd);
    buf[got > 0 ? got : 0] = '\0';
    for (char *p = buf; *p; p++)
        n += *p == '\n';
    return n;
}

/* sudo, polkit, screen lockers authenticate without opening a session: they
 * must not pay for a helper run (a fork+exec and a KDF); the session open of
 * a password login runs exactly one. */
static void auth_alone_runs_no_helper_and_session_one(void **state)
{
    struct pam_testcase auth_only[] = { pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS) };
    struct pamtest_conv_data none = { 0 };
    char runs[4096];

    enroll_alice("correct horse");
    sh("rm -f %s/helper-runs", dir);
    setenv("PAM_AUTHTOK", "correct horse", 1);
    assert_int_equal(run_pamtest("cs-count", "alice", &none, auth_only, NULL), PAMTEST_ERR_OK);
    unsetenv("PAM_AUTHTOK");
    assert_int_equal(helper_runs(runs, sizeof(runs)), 0);
    assert_int_equal(alice_key_state(), 2);
    login("cs-count", "correct horse", NULL, PAM_SUCCESS);
    assert_int_equal(helper_runs(runs, sizeof(runs)), 1);
    assert_non_null(strstr(runs, " login --user alice --session"));
    assert_int_equal(alice_key_state(), 0);
    logout("cs-count");
    assert_int_equal(alice_key_state(), 2);
}

/* sudo -u bob run by alice: auth keeps alice's password, then the
 * application sets PAM_USER to bob and opens bob's session.  Alice's
 * password must not be used for bob (no login run, no drift question):
 * the session is only recorded. */
static void stash_of_another_user_is_dropped(void **state)
{
    struct pam_testcase auth[] = { pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
                                   pam_test(PAMTEST_KEEPHANDLE, PAM_SUCCESS) };
    struct pam_testcase open[] = { pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS) };
    struct pamtest_conv_data none = { 0 };
    char runs[4096], *log;

    enroll_alice("correct horse");
    sh("rm -f %s/helper-runs", dir);
    capture_begin();
    setenv("PAM_AUTHTOK", "correct horse", 1);
    assert_int_equal(run_pamtest("cs-count", "alice", &none, auth, NULL), PAMTEST_ERR_OK);
    unsetenv("PAM_AUTHTOK");
    assert_int_equal(pam_set_item(auth[1].case_out.ph, PAM_USER, "bob"), PAM_SUCCESS);
    assert_int_equal(run_pamtest("cs-count", "bob", &none, open, auth[1].case_out.ph), PAMTEST_ERR_OK);
    log = capture_end();
    assert_non_null(strstr(log, "password kept at authentication for alice is dropped"));
    assert_int_equal(helper_runs(runs, sizeof(runs)), 1);
    assert_non_null(strstr(runs, "handoff --user bob --session --no-key"));
    assert_int_equal(alice_key_state(), 2);
}

/* user@.service of a fleet user: the account step answers in systemd-user */
static void systemd_user_account_of_a_fleet_user(void **state)
{
    struct pam_testcase acct[] = { pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS) };
    struct pam_testcase denied[] = { pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED) };
    struct pamtest_conv_data none = { 0 };
    uint8_t pk[CS_FLEET_PK_BYTES];
    char path[PATH_MAX];

    enroll_alice("correct horse");
    alice_pubkey(pk);
    install_fleet_cache(pk, false);
    assert_int_equal(run_pamtest("systemd-user", "alice", &none, acct, NULL), PAMTEST_ERR_OK);
    install_fleet_cache(pk, true);
    assert_int_equal(run_pamtest("systemd-user", "alice", &none, denied, NULL), PAMTEST_ERR_OK);
    snprintf(path, sizeof(path), "%s/directory.cache", dir);
    unlink(path);
}

int main(int argc, char **argv)
{
#define T(f) cmocka_unit_test_teardown(f, restore_stderr)
    const struct CMUnitTest tests[] = {
        T(auth_session_puts_key_in_users_keyring),
        T(parked_key_reaches_the_session_not_its_env),
        T(auth_alone_runs_no_helper_and_session_one),
        T(authoritative_decides_for_fleet_users),
        T(stash_of_another_user_is_dropped),
        T(systemd_user_account_of_a_fleet_user),
        T(authoritative_fails_closed),
        T(last_session_close_revokes),
        T(lock_reboot_keeps_key_after_last_session),
        T(wrong_password_login_proceeds_without_key),
        T(chauthtok_rewraps),
        T(chauthtok_with_wrong_old_password_changes_nothing),
        T(drift_repair_with_previous_password),
        T(drift_repair_with_recovery_key),
        T(drift_repair_wrong_answer_changes_nothing),
        T(try_first_pass_prompts_when_the_stack_has_no_password),
        T(oversized_password_is_refused_quietly),
        T(systemd_user_service_is_left_alone),
        T(not_enrolled_is_quiet),
        T(corrupt_keybag_logged_and_login_proceeds),
        T(helper_missing_crashing_or_hanging_login_proceeds),
    };
    const char *d = getenv("CS_PAM_TEST_DIR");
    char path[PATH_MAX + 32];
    int rc, slot;

    if (geteuid() != 0) {
        /* 77: skipped (tests/run-unit.sh counts it so, and as a failure
         * under CI or make check, which run as root) */
        fprintf(stderr, "test_pam_cloudseal: needs root (the helper drops to the test users' uids); skipped\n");
        return 77;
    }
    slot = take_uid_slot();
    if (slot < 0) {
        fprintf(stderr, "test_pam_cloudseal: no test uid slot under /run/lock: %s\n", strerror(-slot));
        return 1;
    }
    alice_uid = UID_BASE + slot * 16;
    bob_uid = alice_uid + 1;
    if (!d) {
        prepare();
        reexec(argv);
    }
    snprintf(dir, sizeof(dir), "%s", d);
    snprintf(path, sizeof(path), "%s/cloudseal.conf", dir);
    if (cs_crypto_init() < 0 || cs_config_load(path, &cfg) < 0) {
        fprintf(stderr, "cannot load %s\n", path);
        return 1;
    }
    rc = cmocka_run_group_tests_name("pam_cloudseal", tests, NULL, NULL);
    as_uid(alice_uid, clear_keyring, NULL);
    cs_config_free(cfg);
    if (!getenv("CS_PAM_TEST_KEEP"))
        sh("rm -rf %s", dir);
    return rc;
}
