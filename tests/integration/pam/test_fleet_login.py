# SPDX-License-Identifier: MIT
"""Fleet users (no /etc/passwd or /etc/shadow entry) logging in through the
real PAM stack with pam_cloudseal's authoritative mode, in a private mount
namespace: real glibc NSS (nsswitch.conf "passwd: files cloudseal" in the
/etc overlay, the built libnss_cloudseal.so.2 in an overlay of the library
directory, the directory cache bind-mounted at /var/lib/cloudseal), a
directory built and published with `cloudseal admin`, synced with
`cloudseal-helper directory-sync`.

The stack is the one pam-auth-update makes of the profiles "unix",
"cloudseal-fleet", "mkhomedir" and "cloudseal" (debian/pam-configs/,
pam_cloudseal(8)).
"""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

import uids

PASSWORD = "Tr0ub4dor&3"       # conftest.PASSWORD (the local user's)
FLEET_PW = "fl33t-Pass-w0rd"
FUID = uids.fleet(1)  # this run's (uids.py): the keyring is per uid machine-wide
FUSER = "fleetie"
# where libnss_*.so.2 live: /usr/lib/<multiarch triplet> on Debian
LIBDIR = pathlib.Path("/usr/lib") / subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"],
                                                   capture_output=True, text=True).stdout.strip()


def fleet_stack(sb, name, module_opts=""):
    """What pam-auth-update writes into common-auth/-account/-session/-password for
    unix + cloudseal-fleet + mkhomedir + cloudseal (priorities 256, 128, 0,
    64), with the test build's module, helper and config."""
    m = (f"{sb.build}/pam_cloudseal.so config={sb.config} helper={sb.build}/cloudseal-helper "
         f"{module_opts}").strip()
    lines = [
        "auth    [success=2 default=ignore] pam_unix.so nodelay",
        f"auth    [success=1 default=ignore] {m} authoritative use_first_pass",
        "auth    requisite pam_deny.so",
        "auth    required  pam_permit.so",
        f"auth    optional  {m}",
        "account [success=2 new_authtok_reqd=done default=ignore] pam_unix.so",
        f"account [success=1 new_authtok_reqd=done default=ignore] {m} authoritative",
        "account requisite pam_deny.so",
        "account required  pam_permit.so",
        "session required  pam_unix.so",
        f"session optional  {m}",
        f"session optional  pam_mkhomedir.so skel={sb.dir}/skel",
        "password [success=2 default=ignore] pam_unix.so obscure yescrypt",
        f"password [success=1 default=ignore] {m} authoritative",
        "password requisite pam_deny.so",
        "password required  pam_permit.so",
        f"password optional  {m}",
    ]
    (sb.dir / "etc" / "pam.d" / name).write_text("\n".join(lines) + "\n")


class Fleet:
    """The admin's fleet and a workstation in the sandbox."""

    def __init__(self, sb):
        self.sb = sb
        d = sb.dir
        self.fdir = d / "fleet"
        self.nss = d / "nss"                      # /var/lib/cloudseal in the namespace
        self.home = d / "fleethome" / FUSER
        for p in (self.fdir, self.nss, d / "lib", d / "lib-work", d / "skel", self.home.parent):
            p.mkdir(parents=True, exist_ok=True)
        (d / "skel" / ".profile").write_text("# fleet skel\n")
        shutil.copy2(sb.build / "libnss_cloudseal.so.2", d / "lib" / "libnss_cloudseal.so.2")
        (d / "etc" / "nsswitch.conf").write_text(
            "passwd: files cloudseal\ngroup: files cloudseal\nshadow: files\n"
            "hosts: files\n")
        for p in (sb.storage / "users" / FUSER, sb.state / "keybags" / FUSER):
            p.mkdir(parents=True)
            os.chown(p, FUID, FUID)
            p.chmod(0o700)
        self.write_config()
        fleet_stack(sb, "csfleet")

    def write_config(self, storage_url=None):
        sb, f = self.sb, self.fdir
        sb.config.write_text(
            f"[storage]\nurl = {storage_url or 'file://' + str(sb.storage)}\n"
            f"[paths]\nstate_dir = {sb.state}\n"
            "[kdf]\ntarget_time_ms = 1\nmemory = 8M\n"
            f"[fleet]\npublic_key_file = {f}/fleet.pub\ncache = {self.nss}/directory.cache\n"
            f"state = {self.nss}/directory.state\nlocal_passwd = {sb.dir}/etc/passwd\n"
            f"local_group = {sb.dir}/etc/group\nsource = {f}/directory.json\n"
            f"secret_key_file = {f}/fleet.key\n")

    def admin(self, *args):
        r = subprocess.run([str(self.sb.build / "cloudseal"), "--config", str(self.sb.config),
                            "--json", "admin", *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"admin {args}: {r.stdout}{r.stderr}"
        return r.stdout

    def publish(self):
        self.admin("publish")
        r = subprocess.run([str(self.sb.build / "cloudseal-helper"), "--config", str(self.sb.config),
                            "directory-sync"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

    def run(self, script, **kw):
        """sb.run with fleet NSS: the library overlay and the cache."""
        return self.sb.run(
            f"mount -t overlay cs-lib -o lowerdir={LIBDIR},upperdir=$D/lib,workdir=$D/lib-work {LIBDIR}\n"
            "mount -t tmpfs -o mode=755 cs-varlib /var/lib\n"
            "mkdir -p /var/lib/cloudseal && mount --bind $D/nss /var/lib/cloudseal\n" + script, **kw)

    def as_fleet_user(self, cmd):
        return (f"setpriv --reuid={FUID} --regid={FUID} --clear-groups "
                f"keyctl session - sh -c 'keyctl link @u @s >/dev/null; {cmd}'")

    def enroll(self, password=FLEET_PW, config=None):
        """Enroll as the fleet user (it exists only through NSS); returns the
        account public key `cloudseal enroll` printed."""
        conf = config or "$C"
        r = self.run(self.as_fleet_user(f"$B/cloudseal --config {conf} --json enroll --password-stdin; "
                                         f"$B/cloudseal --config {conf} lock >/dev/null"),
                     input=password + "\n")
        return json.loads(r.stdout)["account_public_key"]

    def key_bytes(self):
        """Bytes of a cloudseal key the fleet user can read from @u (never printed)."""
        r = self.run(self.as_fleet_user(
            "for id in $(keyctl rlist @u 2>/dev/null); do "
            "  case $(keyctl rdescribe $id 2>/dev/null) in *cloudseal:amk:*) keyctl pipe $id | wc -c; exit 0;; esac; "
            "done; echo 0"))
        return int(r.stdout.split()[-1])

    def clear_keys(self):
        subprocess.run(["setpriv", f"--reuid={FUID}", f"--regid={FUID}", "--clear-groups",
                        "keyctl", "session", "-", "sh", "-c",
                        "keyctl link @u @s >/dev/null; keyctl clear @u"], capture_output=True)

    def pam_app(self, user, answers, service="csfleet", passwd=False):
        """tests/integration/pam/pam_login.py: login(1)'s PAM calls, including
        the change an expired password forces (or passwd(1)'s, passwd=True)."""
        app = pathlib.Path(__file__).with_name("pam_login.py")
        return self.run(self.sb.syslog_capture + f"python3 {app} {service} {user}{' --passwd' if passwd else ''} "
                        "|| true\n" + self.sb.syslog_drain + "cat $D/syslog.txt; : > $D/syslog.txt\n", input=answers, check=False)

    def login(self, password, user=FUSER, service="csfleet", ops="authenticate acct_mgmt open_session"):
        return self.run(self.sb.syslog_capture + f"rc=0; pamtester {service} {user} {ops} || rc=$?\n"
                        + self.sb.syslog_drain + "echo \"rc=$rc\"; cat $D/syslog.txt; : > $D/syslog.txt\n",
                        input=password + "\n", check=False)


def new_fleet(sandbox):
    """A fleet whose directory has FUSER, not enrolled yet."""
    if not (LIBDIR / "libc.so.6").exists():
        pytest.fail(f"no libc.so.6 in {LIBDIR}: dpkg-architecture (dpkg-dev) missing or not a Debian layout")
    f = Fleet(sandbox)
    f.admin("keygen", "--secret", str(f.fdir / "fleet.key"), "--public", str(f.fdir / "fleet.pub"))
    f.admin("init", "--fleet", "test")
    f.admin("add-user", FUSER, "--uid", str(FUID), "--home", str(f.home), "--shell", "/bin/sh")
    return f


@pytest.fixture
def fleet(sandbox):
    f = new_fleet(sandbox)
    f.publish()
    key = f.enroll()
    f.admin("approve", FUSER, "--key", key)
    f.publish()
    yield f
    f.clear_keys()


def stack_shape(text, facilities=("auth", "account", "session", "password")):
    """(facility, control, module, cloudseal's own options) of the lines of
    the modules the fleet profile deals with; the test-only options (paths,
    pam_unix's nodelay/nullok, mkhomedir's skel) are left out."""
    keep = ("pam_unix.so", "pam_cloudseal.so", "pam_deny.so", "pam_permit.so", "pam_mkhomedir.so")
    out = []
    for line in text.splitlines():
        f = line.split()
        if not f or f[0] not in facilities:
            continue
        if f[1].startswith("["):                 # a control with spaces: [a=b c=d]
            end = next(i for i, w in enumerate(f) if w.endswith("]"))
            control, rest = " ".join(f[1:end + 1]), f[end + 1:]
        else:
            control, rest = f[1], f[2:]
        module = os.path.basename(rest[0])
        if module not in keep:
            continue
        opts = [o for o in rest[1:] if module == "pam_cloudseal.so" and "=" not in o]
        out.append((f[0], control, module, tuple(opts)))
    return out


def pam_auth_update(sb):
    """Run the real pam-auth-update on debian/pam-configs/cloudseal and
    cloudseal-fleet in the namespace (/etc overlay, its own /var/lib/pam and
    profile dir): common-auth, -account, -session, -session-noninteractive
    and -password land in the sandbox's etc/pam.d, with pam_cloudseal.so
    pointing at the test build (module, helper, config) as everywhere in
    these tests.  Returns {"auth": text as generated, ...}."""
    d = sb.dir
    for p in ("pc", "pc-work", "varlibpam"):
        (d / p).mkdir(exist_ok=True)
    for prof in ("cloudseal", "cloudseal-fleet"):
        shutil.copy(sb.root / "debian" / "pam-configs" / prof, d / "pc" / prof)
    # a debconf database of its own: pam-auth-update is a debconf frontend,
    # and the host's is locked by (and would be written for) everyone else
    shutil.copytree("/var/cache/debconf", d / "debconf", ignore=shutil.ignore_patterns("*-old"))
    common = ("auth", "account", "session", "session-noninteractive", "password")
    sb.run(
        "mount -t overlay cs-pc -o lowerdir=/usr/share/pam-configs,upperdir=$D/pc,workdir=$D/pc-work "
        "/usr/share/pam-configs\n"
        "mount --bind $D/varlibpam /var/lib/pam\n"
        "mount --bind $D/debconf /var/cache/debconf\n"
        "DEBIAN_FRONTEND=noninteractive pam-auth-update --force --enable unix cloudseal cloudseal-fleet "
        "mkhomedir >/dev/null\n")
    m = f"{sb.build}/pam_cloudseal.so config={sb.config} helper={sb.build}/cloudseal-helper"
    out = {}
    for c in common:
        f = d / "etc" / "pam.d" / f"common-{c}"
        out[c] = f.read_text()
        f.write_text(out[c].replace("pam_cloudseal.so", m))
    return out


@pytest.mark.skipif(not shutil.which("pam-auth-update"), reason="no pam-auth-update")
def test_pam_auth_update_makes_the_stack_these_tests_use(sandbox):
    """debian/pam-configs/cloudseal-fleet, given to the real pam-auth-update,
    yields exactly the stack the other tests log in through."""
    d = sandbox.dir
    common = pam_auth_update(sandbox)
    generated = stack_shape("".join(common[c] for c in ("auth", "account", "session", "password")))
    fleet_stack(sandbox, "shape")
    mine = stack_shape((d / "etc" / "pam.d" / "shape").read_text())
    # common-session starts with pam_permit/pam_deny bookkeeping of its own
    generated = [l for l in generated if l[0] != "session" or l[2] not in ("pam_permit.so", "pam_deny.so")]
    assert generated == mine, "\n".join(map(str, generated))
    assert ("auth", "[success=1 default=ignore]", "pam_cloudseal.so", ("authoritative", "use_first_pass")) in mine


def rc_of(r):
    return int([l for l in r.stdout.splitlines() if l.startswith("rc=")][-1][3:])


def cloudseal_lines(r):
    return [l for l in r.stdout.splitlines() if "pam_cloudseal" in l]


def test_fleet_user_logs_in_and_gets_the_key(fleet):
    sb = fleet.sb
    # no local entry anywhere: NSS alone knows the user
    for f in ("passwd", "shadow"):
        assert f"\n{FUSER}:" not in "\n" + (sb.dir / "etc" / f).read_text()
    r = fleet.run(f"getent passwd {FUSER}; getent shadow {FUSER} || echo no-shadow")
    assert r.stdout.startswith(f"{FUSER}:x:{FUID}:{FUID}:") and "no-shadow" in r.stdout
    assert not fleet.home.exists()
    r = fleet.login(FLEET_PW)
    assert rc_of(r) == 0, r.stdout + r.stderr
    assert fleet.key_bytes() == 32
    # pam_mkhomedir made the home at the first login, the user's own
    assert fleet.home.is_dir() and fleet.home.stat().st_uid == FUID
    assert (fleet.home / ".profile").exists()
    assert any("authenticated with the pinned account key" in l for l in cloudseal_lines(r)), r.stdout
    # a local user still logs in through pam_unix in the same stack; a wrong
    # password (pam_unix: no; pam_cloudseal: not a fleet user) is refused
    sb.enroll()
    assert rc_of(fleet.login(PASSWORD, user="cspamtest")) == 0
    assert sb.key_bytes() == 32
    assert rc_of(fleet.login("wrong", user="cspamtest")) != 0
    assert rc_of(fleet.login("whatever", user="nosuchuser")) != 0


def test_wrong_password_fails(fleet):
    r = fleet.login("not-" + FLEET_PW)
    assert rc_of(r) != 0
    assert fleet.key_bytes() == 0
    assert any(l.startswith("<85>") and "fleet login refused for fleetie: the password does not unwrap" in l
               for l in cloudseal_lines(r)), r.stdout


def test_planted_keybag_fails_even_with_its_own_password(fleet):
    """Someone with write access to the bucket enrolls another key under the
    user's name (a valid keybag, generation not lower) and plants it."""
    sb = fleet.sb
    evil = sb.dir / "evil"
    (evil / "storage" / "users" / FUSER).mkdir(parents=True)
    (evil / "state" / "keybags" / FUSER).mkdir(parents=True)
    subprocess.run(["chown", "-R", f"{FUID}:{FUID}", str(evil)], check=True)
    conf = evil / "c.conf"
    conf.write_text(f"[storage]\nurl = file://{evil}/storage\n[paths]\nstate_dir = {evil}/state\n"
                    "[kdf]\ntarget_time_ms = 1\nmemory = 8M\n")
    fleet.enroll(password="attacker-pw", config=str(conf))
    planted = sb.storage / "users" / FUSER / "keybag"
    shutil.copyfile(evil / "storage" / "users" / FUSER / "keybag", planted)
    r = fleet.login("attacker-pw")
    assert rc_of(r) != 0, r.stdout
    assert fleet.key_bytes() == 0
    lines = cloudseal_lines(r)
    # LOG_CRIT (2) in authpriv (10 * 8): <82>
    assert any(l.startswith("<82>") and "another account than the one the fleet directory pins" in l for l in lines), r.stdout


def test_disabled_user_is_refused(fleet):
    fleet.admin("disable-user", FUSER)
    fleet.publish()
    r = fleet.login(FLEET_PW)
    assert rc_of(r) != 0
    assert fleet.key_bytes() == 0
    assert any("refused by the fleet directory" in l for l in cloudseal_lines(r)), r.stdout
    # the account hook refuses too (a login that did not use our auth, e.g. an SSH key)
    r = fleet.login("", ops="acct_mgmt")
    assert rc_of(r) != 0
    assert any("fleet account fleetie refused" in l for l in cloudseal_lines(r)), r.stdout
    fleet.admin("enable-user", FUSER)
    fleet.publish()
    assert rc_of(fleet.login("", ops="acct_mgmt")) == 0


def test_removed_user_is_refused(fleet):
    fleet.admin("remove-user", FUSER)
    fleet.publish()
    r = fleet.login(FLEET_PW)
    assert rc_of(r) != 0
    assert fleet.key_bytes() == 0


def test_offline_login_from_cached_keybag_and_directory(fleet):
    fleet.write_config(storage_url=f"file://{fleet.sb.dir}/unreachable")
    r = fleet.login(FLEET_PW)
    assert rc_of(r) == 0, r.stdout
    assert fleet.key_bytes() == 32


def test_helper_crash_or_hang_fails_closed(fleet):
    sb = fleet.sb
    (sb.dir / "crash.sh").write_text("#!/bin/sh\nkill -SEGV $$\n")
    (sb.dir / "slow.sh").write_text("#!/bin/sh\nexec sleep 30\n")
    for n in ("crash", "slow"):
        (sb.dir / f"{n}.sh").chmod(0o755)
        fleet_stack(sb, f"csfleet-{n}", f"helper={sb.dir}/{n}.sh timeout=1")
        r = fleet.login(FLEET_PW, service=f"csfleet-{n}")
        assert rc_of(r) != 0, (n, r.stdout)
        assert fleet.key_bytes() == 0


def test_admin_enrolled_user_logs_in_with_the_one_time_password(sandbox):
    """The first enrollment of a user who has no account anywhere: the admin
    runs `admin enroll-user`, publishes, and the user logs in through the
    real PAM stack with the one-time password, then sets their own."""
    f = new_fleet(sandbox)
    out = json.loads(f.admin("enroll-user", FUSER))
    otp = out["one_time_password"]
    assert len(otp) == 20 and out["recovery_key"] and out["user"] == FUSER
    src = json.loads((f.fdir / "directory.json").read_text())
    users = src["users"]
    entry = users[FUSER] if isinstance(users, dict) else next(u for u in users if u["name"] == FUSER)
    assert entry["account_key"] == out["account_key"]
    # a second run refuses: the key is pinned (and the keybag exists)
    r = subprocess.run([str(sandbox.build / "cloudseal"), "--config", str(sandbox.config), "admin",
                        "enroll-user", FUSER], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "already has a pinned key" in r.stderr
    f.publish()
    try:
        # the one-time password is right but expired: pamtester stops at
        # acct_mgmt (PAM_NEW_AUTHTOK_REQD), no session, no key
        r = f.login(otp)
        assert rc_of(r) != 0 and "a new one is required" in r.stdout, r.stdout + r.stderr
        assert f.key_bytes() == 0
        # a login(1)-like application changes it as asked (the key of the
        # login stands for the old password), then the session gets the key
        r = f.pam_app(FUSER, f"{otp}\n{FLEET_PW}\n{FLEET_PW}\n")
        assert "result: open_session 0" in r.stdout, r.stdout + r.stderr
        assert "new authtok required" in r.stdout
        assert "info: Your password was set by an administrator: choose your own now." in r.stdout
        assert "prompt: New password:" in r.stdout and "prompt: Retype new password:" in r.stdout
        assert "Current password" not in r.stdout
        assert any("password of fleet user fleetie changed" in l for l in cloudseal_lines(r)), r.stdout
        assert f.key_bytes() == 32
        f.clear_keys()
        # the one-time password stopped working; the new one is not expired
        assert rc_of(f.login(otp)) != 0
        assert rc_of(f.login(FLEET_PW)) == 0
        assert f.key_bytes() == 32
        f.clear_keys()
    finally:
        f.clear_keys()


def test_fleet_user_changes_password_through_pam(fleet):
    """passwd(1)'s pam_chauthtok for a fleet user: pam_unix does not know the
    user, the authoritative line asks for the current password and the new
    one twice, and re-wraps the keybag; the piggyback line does not re-wrap
    a second time.  Wrong current password and mismatched entries change
    nothing."""
    f = fleet
    try:
        r = f.pam_app(FUSER, f"{FLEET_PW}\nn3w-Pass-w0rd\nn3w-Pass-w0rd\n", passwd=True)
        assert "result: chauthtok 0" in r.stdout, r.stdout + r.stderr
        assert r.stdout.count("prompt: Current password:") == 1
        assert any("password of fleet user fleetie changed" in l for l in cloudseal_lines(r)), r.stdout
        assert not any("re-wrapped to the new password" in l for l in cloudseal_lines(r)), r.stdout
        assert rc_of(f.login(FLEET_PW)) != 0
        assert rc_of(f.login("n3w-Pass-w0rd")) == 0
        f.clear_keys()
        keybag = f.sb.storage / "users" / FUSER / "keybag"
        before = keybag.read_bytes()
        r = f.pam_app(FUSER, "wrong-current\nx-Pass-w0rd1\nx-Pass-w0rd1\n", passwd=True)
        assert "result: chauthtok 0" not in r.stdout and "current password is wrong" in r.stdout, r.stdout
        r = f.pam_app(FUSER, "n3w-Pass-w0rd\nx-Pass-w0rd1\ny-Pass-w0rd2\n", passwd=True)
        assert "result: chauthtok 0" not in r.stdout and "passwords do not match" in r.stdout, r.stdout
        assert keybag.read_bytes() == before
    finally:
        f.clear_keys()


MAX_GENERATION = 2 ** 53


def foreign_keybag(sb, user, password, generation=None, name="evil"):
    """A well-formed keybag of another account for user, made the way a
    bucket writer would (`cloudseal enroll` with a storage of their own),
    wrapped to password; generation: what its pin makes `enroll` write."""
    evil = sb.dir / name
    (evil / "storage" / "users" / user).mkdir(parents=True)
    (evil / "state" / "keybags" / user).mkdir(parents=True)
    if generation:
        (evil / "state" / "keybags" / user / "generation").write_text(f"{generation - 1}\n")
    uid = pathlib.Path(sb.storage / "users" / user).stat().st_uid
    subprocess.run(["chown", "-R", f"{uid}:{uid}", str(evil)], check=True)
    conf = evil / "c.conf"
    conf.write_text(f"[storage]\nurl = file://{evil}/storage\n[paths]\nstate_dir = {evil}/state\n"
                    "[kdf]\ntarget_time_ms = 1\nmemory = 8M\n")
    return conf, evil / "storage" / "users" / user / "keybag"


def test_planted_keybag_touches_neither_cache_nor_pin(fleet):
    """Issue 14, hole 2: a keybag planted in storage with generation 2^53,
    wrapped to the attacker's password, is refused at login -- and must not
    have reached the cache or the pin on the way: the real password keeps
    working while it sits in storage, and after the store is cleaned."""
    sb = fleet.sb
    conf, made = foreign_keybag(sb, FUSER, "attacker-pw", MAX_GENERATION)
    fleet.enroll(password="attacker-pw", config=str(conf))
    assert json.loads(made.read_text())["generation"] == MAX_GENERATION
    stored = sb.storage / "users" / FUSER / "keybag"
    cache = sb.state / "keybags" / FUSER
    real, cached, pin = stored.read_bytes(), (cache / "keybag").read_bytes(), (cache / "generation").read_text()
    shutil.copyfile(made, stored)
    try:
        r = fleet.login("attacker-pw")
        assert rc_of(r) != 0, r.stdout
        assert fleet.key_bytes() == 0
        assert any(l.startswith("<82>") and "another account than the one the fleet directory pins" in l
                   for l in cloudseal_lines(r)), r.stdout
        # nothing of it reached this machine
        assert (cache / "keybag").read_bytes() == cached
        assert (cache / "generation").read_text() == pin
        # the real password works while the foreign keybag is in storage...
        r = fleet.login(FLEET_PW)
        assert rc_of(r) == 0, r.stdout
        assert fleet.key_bytes() == 32
        fleet.clear_keys()
        assert stored.read_bytes() == made.read_bytes()   # (a login never writes storage)
        # ... and after the store is cleaned
        stored.write_bytes(real)
        r = fleet.login(FLEET_PW)
        assert rc_of(r) == 0, r.stdout
        assert fleet.key_bytes() == 32
        assert (cache / "generation").read_text() == pin
        fleet.clear_keys()
        # ... and offline
        fleet.write_config(storage_url=f"file://{sb.dir}/unreachable")
        assert rc_of(fleet.login(FLEET_PW)) == 0
        assert fleet.key_bytes() == 32
    finally:
        fleet.clear_keys()


def test_foreign_keybag_in_storage_does_not_block_a_piggyback_login(sandbox):
    """The same for a local (non-fleet) user: pam_unix decides, and a
    foreign keybag in storage (here wrapped even to the user's own password)
    neither withholds the key nor replaces the account cached here."""
    sb = sandbox
    sb.enroll()
    conf, made = foreign_keybag(sb, "cspamtest", PASSWORD, MAX_GENERATION)
    sb.run(sb.as_user(f"$B/cloudseal --config {conf} enroll --password-stdin >/dev/null; "
                      f"$B/cloudseal --config {conf} lock >/dev/null"), input=PASSWORD + "\n")
    cache = sb.state / "keybags" / "cspamtest"
    cached, pin = (cache / "keybag").read_bytes(), (cache / "generation").read_text()
    shutil.copyfile(made, sb.storage / "users" / "cspamtest" / "keybag")
    sb.run("pamtester cstest $U authenticate open_session\n", input=PASSWORD + "\n")
    assert sb.key_bytes() == 32        # the account cached here, not the planted one
    assert (cache / "keybag").read_bytes() == cached
    assert (cache / "generation").read_text() == pin


def test_replayed_old_keybag_is_refused_fleet_wide_once_published(sandbox):
    """Issue 14, hole 1, as reported: `admin enroll-user` (one-time password,
    generation 1), the user sets their own password (generation 2), someone
    who can write the bucket copies the generation-1 keybag back.  Once the
    admin has published, a workstation that never saw generation 2 refuses
    the one-time password; the same for a superseded password."""
    f = new_fleet(sandbox)
    sb = f.sb
    otp = json.loads(f.admin("enroll-user", FUSER))["one_time_password"]
    f.publish()
    stored = sb.storage / "users" / FUSER / "keybag"
    cache = sb.state / "keybags" / FUSER
    gen1 = stored.read_bytes()

    def never_saw_it():
        """Another workstation: the same directory, no keybag cached."""
        for p in cache.iterdir():
            p.unlink()

    try:
        # workstation A: first login with the one-time password, then the user's own
        r = f.pam_app(FUSER, f"{otp}\n{FLEET_PW}\n{FLEET_PW}\n")
        assert "result: open_session 0" in r.stdout, r.stdout + r.stderr
        f.clear_keys()
        gen2 = stored.read_bytes()
        assert json.loads(gen2)["generation"] == 2
        f.publish()

        # workstation B never saw generation 2; the bucket gets generation 1 back
        never_saw_it()
        stored.write_bytes(gen1)
        r = f.login(otp, ops="authenticate")
        assert rc_of(r) != 0, r.stdout
        assert f.key_bytes() == 0
        assert any(l.startswith("<82>") and "rollback" in l for l in cloudseal_lines(r)), r.stdout
        assert not any(cache.iterdir())               # nothing of it was cached

        # the user's keybag back: their password works there
        stored.write_bytes(gen2)
        assert rc_of(f.login(FLEET_PW)) == 0
        f.clear_keys()

        # a superseded password: changed on A (generation 3), published,
        # generation 2 copied back for a machine that never saw 3
        r = f.pam_app(FUSER, f"{FLEET_PW}\nn3w-Pass-w0rd\nn3w-Pass-w0rd\n", passwd=True)
        assert "result: chauthtok 0" in r.stdout, r.stdout + r.stderr
        gen3 = stored.read_bytes()
        f.publish()
        never_saw_it()
        stored.write_bytes(gen2)
        r = f.login(FLEET_PW, ops="authenticate")
        assert rc_of(r) != 0, r.stdout
        assert f.key_bytes() == 0
        stored.write_bytes(gen3)
        assert rc_of(f.login("n3w-Pass-w0rd")) == 0
        assert f.key_bytes() == 32
        # how: the user's workstation filed a seal, publish put it in the directory
        seal = json.loads((sb.storage / "users" / FUSER / "keybag-seal").read_text())
        assert seal["user"] == FUSER and seal["generation"] == 3
        src = json.loads((f.fdir / "directory.json").read_text())
        assert next(u for u in src["users"] if u["name"] == FUSER)["keybag"]["generation"] == 3
    finally:
        f.clear_keys()
