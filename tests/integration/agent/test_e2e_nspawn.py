# SPDX-License-Identifier: MIT
"""End to end under real systemd: a Debian 12 container booted with
systemd-nspawn (tests/nspawn/), the project installed inside, a user who
logs in through the container's real PAM stack with pam_cloudseal, the user
manager starting cloudseal-agent, a backup landing in the repository, and
the end of the last session locking the key; and a fleet user (cloudseal-fleet
profile, libnss_cloudseal) whose user manager starts and whose login unlocks.
In the same boot (lock = logout) the agent's politeness and notifications
under the real user manager (issue 18): a session bus started by the
manager carries the stand-ins of a notification server and of UPower and
NetworkManager (agent-notifyd, agent-powerd: their real names, paths,
interfaces and properties), given to the agent as its system bus.

Needs root, systemd-nspawn and debootstrap (scripts/install-deps.sh), and
the Debian archive the first time (the root file system is cached under
/var/cache/cloudseal-test).  When the archive cannot be reached the test is
skipped with a loud message, never silently."""
import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import time

import pytest

import uids
import waits

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")
ROOTFS_SH = ROOT / "tests" / "nspawn" / "rootfs.sh"
BOOT_SH = ROOT / "tests" / "nspawn" / "boot.sh"
PASSWORD = "Tr0ub4dor&3 e2e"


def loud(config, msg):
    """Say it on the terminal even under pytest -q with output captured."""
    import contextlib
    tr = config.pluginmanager.getplugin("terminalreporter")
    capman = config.pluginmanager.getplugin("capturemanager")
    line = "!" * 78
    # output is captured while a fixture runs: step around the capture
    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        if tr:
            tr.write_line("")
            tr.write_line(line, red=True, bold=True)
            tr.write_line(f"SKIPPED END-TO-END TEST: {msg}", red=True, bold=True)
            tr.write_line(line, red=True, bold=True)
        else:
            print(f"\n{line}\nSKIPPED END-TO-END TEST: {msg}\n{line}", flush=True)


@pytest.fixture(scope="module")
def rootfs(request):
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap, systemd-nspawn)")
    for tool in ("systemd-nspawn", "debootstrap", "nsenter"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} missing: run scripts/install-deps.sh (package systemd-container/debootstrap)")
    r = subprocess.run([str(ROOTFS_SH)], capture_output=True, text=True, timeout=900)
    if r.returncode == 75:
        msg = ("the Debian archive cannot be reached, so the container root file system "
               f"cannot be built: {r.stderr.strip().splitlines()[-1]}")
        loud(request.config, msg)
        pytest.skip(msg)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


class Container:
    def __init__(self, workdir):
        self.w = workdir

    def __call__(self, *cmd, input=None, check=True, timeout=120):
        r = subprocess.run([str(BOOT_SH), "exec", str(self.w), *cmd], input=input,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"in container: {cmd} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def as_user(self, user, uid, *cmd, **kw):
        return self("runuser", "-u", user, "--", "env", f"XDG_RUNTIME_DIR=/run/user/{uid}", *cmd, **kw)

    def wait(self, what, fn, timeout=60):
        """fn() polled (waits.wait_until): what changes inside the container
        (a unit's state, a key, a snapshot) reaches the host through no event
        it could wait on; the timeout is only a failure bound."""
        last = [None]

        def probe():
            last[0] = fn()
            return last[0]
        try:
            return waits.wait_until(probe, timeout, what, first=0.05, cap=0.5)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what} (last: {last[0]!r})\n" + self.debug()) from None

    def debug(self):
        r = self("sh", "-c", "journalctl -q --no-pager -n 400 | grep -v 'runuser\\[' | tail -n 60", check=False)
        return r.stdout[-8000:]


def add_pam_lines(root):
    """pam_cloudseal after pam_unix in the auth stack (piggyback: optional),
    and in the session stack before pam_systemd starts the user manager."""
    auth = root / "etc/pam.d/common-auth"
    lines = auth.read_text().splitlines()
    # after the primary block (pam_unix jumps over pam_deny to pam_permit), as
    # pam-auth-update places "Additional" modules
    i = max(n for n, l in enumerate(lines) if l.startswith("auth") and "pam_permit.so" in l)
    lines.insert(i + 1, "auth\toptional\tpam_cloudseal.so")
    auth.write_text("\n".join(lines) + "\n")
    sess = root / "etc/pam.d/common-session"
    lines = sess.read_text().splitlines()
    i = next(n for n, l in enumerate(lines) if "pam_systemd.so" in l)
    lines.insert(i, "session\toptional\tpam_cloudseal.so")
    sess.write_text("\n".join(lines) + "\n")
    # the held session's service: a login without pam_cloudseal (like a caller
    # that never runs close_session), so that locking at its end is the agent's
    (root / "etc/pam.d/cs-hold").write_text(
        "account required pam_unix.so\nsession required pam_unix.so\nsession optional pam_systemd.so\n")


STANDINS = BUILD / "tests"
STANDIN_DIR = "/usr/local/libexec/cs-test"
STANDINS_SH = f"""#!/bin/sh
# prepare: the FIFO that says ready; start: the bus, then the stand-ins on it;
# ready: until the start has seen every stand-in say READY (after owning its
# names).  Each wait is a blocking read of a FIFO: the event itself.
R=$XDG_RUNTIME_DIR
B=$R/bus
export DBUS_SESSION_BUS_ADDRESS=unix:path=$B
case "$1" in
  prepare) rm -f $R/cs-standins-ready; mkfifo $R/cs-standins-ready; exit 0 ;;
  ready) read -r _ < $R/cs-standins-ready; exit 0 ;;
esac
# dbus-daemon prints its address once it listens: read from a FIFO, that is the event
rm -f $R/cs-bus-ready $R/cs-notifyd-out $R/cs-powerd-out
mkfifo $R/cs-bus-ready $R/cs-notifyd-out $R/cs-powerd-out
dbus-daemon --session --nofork --nopidfile --address=unix:path=$B --print-address=3 3>$R/cs-bus-ready &
read -r _ < $R/cs-bus-ready
{STANDIN_DIR}/agent-notifyd > $R/cs-notifyd-out &
exec 4< $R/cs-notifyd-out
{STANDIN_DIR}/agent-powerd /var/tmp/cs-power-state > $R/cs-powerd-out &
echo $! > $R/cs-powerd.pid
exec 5< $R/cs-powerd-out
read -r l4 <&4 && read -r l5 <&5 && [ "$l4" = READY ] && [ "$l5" = READY ] || exit 1
# what they print after READY (the notifications) goes on to the journal
cat <&4 &
cat <&5 &
echo ready > $R/cs-standins-ready
wait
"""
# a user unit started before the agent, which the drop-in makes wait for it
STANDINS_UNIT = f"""[Service]
ExecStartPre={STANDIN_DIR}/standins.sh prepare
ExecStart={STANDIN_DIR}/standins.sh
ExecStartPost={STANDIN_DIR}/standins.sh ready
TimeoutStartSec=30
"""
AGENT_DROPIN = """[Unit]
Requires=cs-test-standins.service
After=cs-test-standins.service
[Service]
Environment=DBUS_SYSTEM_BUS_ADDRESS=unix:path=%t/bus
"""


def install_standins(root):
    """The stand-in programs, inert until a test adds the units."""
    d = root / STANDIN_DIR.lstrip("/")
    d.mkdir(parents=True, exist_ok=True)
    for n in ("agent-notifyd", "agent-powerd"):
        if not (STANDINS / n).exists():
            pytest.fail(f"{STANDINS / n} missing: run 'make {STANDINS / n}'")
        shutil.copy(STANDINS / n, d / n)
    (d / "standins.sh").write_text(STANDINS_SH)
    (d / "standins.sh").chmod(0o755)


CONF = ("[storage]\nurl = file:///var/lib/cloudseal/storage\n"
        "[paths]\nstate_dir = /var/lib/cloudseal\n"
        "[kdf]\ntarget_time_ms = 1\nmemory = 8M\n"
        "[session]\nlock = {lock}\n"
        "[agent]\nrandomized_delay = 0\nkeyring_poll = 1s\narchive_sync = no\n"
        "[backup]\npaths = ~/data\n")


class Desk:
    """The session bus of the lock = logout variant: the notifications the
    agent sent, and the battery and network state it sees."""

    def __init__(self, c, user, uid):
        self.c, self.user, self.uid = c, user, uid

    @classmethod
    def install(cls, c, user, uid):
        """Before the user manager starts: the stand-ins' unit, the agent's
        drop-in, a metered connection, an agent that has not backed up for
        4 days, retries an hour apart (only a PropertiesChanged can start a
        held backup sooner), and a big file for the guard to miss later."""
        c("sh", "-c", "cat > /etc/systemd/user/cs-test-standins.service", input=STANDINS_UNIT)
        c("mkdir", "-p", "/etc/systemd/user/cloudseal-agent.service.d")
        c("sh", "-c", "cat > /etc/systemd/user/cloudseal-agent.service.d/cs-test.conf", input=AGENT_DROPIN)
        d = cls(c, user, uid)
        d.power(0, 100.0, 1, announce=False)
        c("sh", "-c", "cat >> /etc/cloudseal/cloudseal.conf", input="[agent]\nretry_min = 1h\n")
        state = json.dumps({"version": 1, "first_seen": int(time.time()) - 4 * 86400})
        c("runuser", "-u", user, "--", "sh", "-c",
          "mkdir -p ~/.local/state/cloudseal && chmod 700 ~/.local/state/cloudseal && "
          "cat > ~/.local/state/cloudseal/agent-state.json && head -c 262144 /dev/urandom > ~/data/big.bin",
          input=state)
        return d

    def journal(self):
        return self.c("journalctl", "-q", "--no-pager", "_SYSTEMD_USER_UNIT=cs-test-standins.service",
                      "-o", "cat", check=False).stdout

    def notification(self, summary, timeout=60):
        """The body of the first notification with this summary."""
        prefix = f"NOTIFY cloudseal|{summary}|"
        line = self.c.wait(f"the notification {summary!r}", lambda: next(
            (l for l in self.journal().splitlines() if l.startswith(prefix)), None), timeout=timeout)
        return line[len(prefix):]

    def power(self, on_battery, percent, metered, announce=True):
        """Set what UPower and NetworkManager say; announce: emit their
        PropertiesChanged and wait until it is on the bus."""
        before = self.journal().count("CHANGED")
        self.c("sh", "-c", f"echo '{int(on_battery)} {percent} {metered}' > /var/tmp/cs-power-state.tmp && "
               "chmod 644 /var/tmp/cs-power-state.tmp && mv /var/tmp/cs-power-state.tmp /var/tmp/cs-power-state")
        if announce:
            self.c("sh", "-c", f"kill -USR1 $(cat /run/user/{self.uid}/cs-powerd.pid)")
            self.c.wait("the stand-in's PropertiesChanged", lambda: self.journal().count("CHANGED") > before,
                        timeout=15)


def guard_pause_calendar(c, desk, user, uid, agent_prop):
    """The small-snapshot guard's warning, pause/resume and a calendar
    schedule, under the real user manager."""
    c("rm", f"/home/{user}/data/big.bin")  # the disk that was not mounted
    assert "started" in c.as_user(user, uid, "cloudseal", "agent", "backup-now").stdout
    body = desk.notification("cloudseal: the newest backup looks incomplete", timeout=90)
    assert "The last full backups are kept" in body, body
    assert "agent: paused until 'cloudseal agent resume'" in c.as_user(
        user, uid, "cloudseal", "agent", "pause").stdout
    c.wait("the agent to show paused", lambda: agent_prop("StatusText").startswith(
        "paused: run 'cloudseal agent resume'"), timeout=15)
    assert "agent: resumed" in c.as_user(user, uid, "cloudseal", "agent", "resume").stdout
    c.wait("the agent to show idle", lambda: agent_prop("StatusText").startswith("idle, next backup"), timeout=15)
    # [agent] schedule, read at a reload: the next backup is at the calendar's time
    at = c("date", "-d", "+2 hours", "+%H:%M").stdout.strip()
    c("sh", "-c", "cat >> /etc/cloudseal/cloudseal.conf", input=f"schedule = daily {at}\n")
    journal = ("journalctl", "-q", "--no-pager", "_SYSTEMD_USER_UNIT=cloudseal-agent.service", "-o", "cat")
    reloads = c(*journal, check=False).stdout.count("reloaded the configuration")
    c.as_user(user, uid, "systemctl", "--user", "reload", "cloudseal-agent.service")
    c.wait("the second reload", lambda: c(*journal, check=False).stdout.count(
        "reloaded the configuration") > reloads, timeout=15)
    st = json.loads(c.as_user(user, uid, "cloudseal", "--json", "status").stdout)
    nxt = next(j for j in st["agent"]["jobs"] if j["name"] == "backup")["next_run"]
    assert c("date", "-d", f"@{nxt}", "+%H:%M").stdout.strip() == at and 0 < nxt - time.time() <= 86400, st
    assert f"on the calendar 'daily {at}'" in c(*journal, check=False).stdout


@contextlib.contextmanager
def booted(rootfs, w, lock, setup):
    """A container on an overlay of rootfs with the project installed, the
    test configuration, and setup(root) done before it boots."""
    r = subprocess.run([str(BOOT_SH), "prepare", rootfs, str(w)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    root = pathlib.Path(r.stdout.strip())
    try:
        r = subprocess.run(["make", "-C", str(ROOT), "install", f"DESTDIR={root}",
                            f"O={os.environ.get('O', 'build')}"], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        (root / "etc/cloudseal/cloudseal.conf").write_text(CONF.format(lock=lock))
        setup(root)
        # a machine name of its own: boot.sh's default (from the work dir's
        # name, "ct" in every test) would be the other pytest-xdist worker's
        # too, and nspawn keeps per-name state under /run/systemd/nspawn
        name = f"cs-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
        r = subprocess.run([str(BOOT_SH), "start", str(w)], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, CS_MACHINE_NAME=name))
        assert r.returncode == 0, r.stderr
        yield Container(w)
    finally:
        subprocess.run([str(BOOT_SH), "stop", str(w)], capture_output=True, timeout=120)


@pytest.fixture
def container(rootfs, tmp_path, request):
    lock = getattr(request, "param", "logout").split("-")[0]

    def setup(root):
        add_pam_lines(root)
        install_standins(root)

    with booted(rootfs, tmp_path / "ct", lock, setup) as c:
        yield c


@pytest.mark.parametrize("container", ["logout", "reboot", "logout-nolinger"], indirect=True)
def test_login_agent_backup_logout(container, request):
    """logout: lingering keeps the manager up, the agent locks when logind
    says no session is left.  reboot: the key stays for overnight backups.
    logout-nolinger (the common desktop case): the user manager starts with
    the first session and stops the agent after the last one."""
    variant = request.node.callspec.params["container"]
    lock, linger = variant.split("-")[0], not variant.endswith("nolinger")
    c = container
    uid = uids.container(0)  # keyrings are shared with the host per uid: this run's
    user = f"csa{uid}"
    c("useradd", "-m", "-u", str(uid), "-s", "/bin/bash", user)
    c("chpasswd", input=f"{user}:{PASSWORD}\n")
    c("install", "-d", "-m", "0755", "/var/lib/cloudseal/keybags", "/var/lib/cloudseal/storage/users")
    c("install", "-d", "-o", user, "-m", "0700", f"/var/lib/cloudseal/keybags/{user}",
      f"/var/lib/cloudseal/storage/users/{user}")
    c("runuser", "-u", user, "--", "sh", "-c", "mkdir ~/data && echo 'precious' > ~/data/thesis.txt")
    out = c("runuser", "-u", user, "--", "cloudseal", "--json", "enroll", "--password-stdin",
            input=PASSWORD + "\n").stdout
    c("runuser", "-u", user, "--", "cloudseal", "lock", check=False)  # start from a locked keyring
    account = json.loads(c("runuser", "-u", user, "--", "cloudseal", "--json", "status").stdout)["account_id"]
    assert account, out

    def key_in_keyring():
        return c("runuser", "-u", user, "--", "keyctl", "search", "@u", "user",
                 f"cloudseal:amk:{account}", check=False).returncode == 0

    def agent_prop(prop):
        r = c.as_user(user, uid, "systemctl", "--user", "show", "-p", prop, "--value",
                      "cloudseal-agent.service", check=False)
        return r.stdout.strip()

    assert not key_in_keyring()
    desk = Desk.install(c, user, uid) if variant == "logout" else None
    # packages enable the user unit for everyone; linger keeps the manager up
    c("systemctl", "--global", "enable", "cloudseal-agent.service", "cloudseal-agent.socket")
    if linger:
        c("loginctl", "enable-linger", user)
        c.wait("the user manager to start the agent", lambda: agent_prop("ActiveState") == "active")
    if desk:
        body = desk.notification("cloudseal: backup overdue")
        assert body == ("No backup has succeeded for 4 days (the last one: never): your keys are locked. "
                        "Run 'cloudseal unlock'."), body

    # a session that stays open (no password: it cannot unlock anything)
    c("systemd-run", f"--unit=cs-hold-{uid}", "-p", "PAMName=cs-hold", "-p", f"User={user}",
      "sleep", "600")
    c.wait("the held session", lambda: "active" in c("loginctl", "show-user", user, "-p", "State",
                                                     check=False).stdout)
    c.wait("the user manager to start the agent", lambda: agent_prop("ActiveState") == "active")
    assert agent_prop("StatusText").startswith("locked:")
    assert agent_prop("Type") == "notify" and agent_prop("WatchdogUSec") != "0"
    # the real login: pam_unix checks the password, pam_cloudseal unwraps the
    # key and its session hook puts it in the user's keyring.  pamtester exits
    # without close_session (some callers never run it: locking must not
    # depend on it), so its logind session ends with it; the held one stays.
    r = c("systemd-run", "--wait", "--pipe", "--quiet", "pamtester", "login", user,
          "authenticate", "open_session", input=PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stdout + r.stderr + c.debug()
    c.wait("the key in the keyring after login", key_in_keyring, timeout=20)
    if desk:
        # due, but held back; each change is followed at once (retries are 1h apart)
        c.wait("the backup held back on a metered connection",
               lambda: agent_prop("StatusText").startswith("waiting: on a metered connection"), timeout=30)
        desk.power(1, 15.0, 0)
        c.wait("the backup held back on battery", lambda: agent_prop("StatusText") ==
               "waiting: on battery (15%, below 20%): backs up when plugged in", timeout=15)
        desk.power(0, 15.0, 0)  # plugged in

    # the agent notices, creates the repository and backs up
    c.wait("a finished backup",
           lambda: agent_prop("StatusText").startswith("idle, next backup"), timeout=90)
    st = json.loads(c.as_user(user, uid, "cloudseal", "--json", "status").stdout)
    job = next(j for j in st["agent"]["jobs"] if j["name"] == "backup")
    assert job["last_result"] == "ok", st
    snaps = json.loads(c.as_user(user, uid, "cloudseal", "--json", "snapshots").stdout)
    snaps = snaps if isinstance(snaps, list) else snaps.get("snapshots", [])
    assert len(snaps) == 1
    assert c("sh", "-c", f"ls /var/lib/cloudseal/storage/users/{user}/backup | wc -l").stdout.strip() != "0"
    if desk:
        assert "Your files are backed up" in desk.notification("cloudseal: first backup finished")
    assert agent_prop("NRestarts") == "0"
    # issue 18: the retention policy (and the first prune) ran after the
    # backup under the real user manager, and the agent, so every job, runs
    # at low CPU and idle I/O priority (the user unit's Nice=, IOSchedulingClass=)
    ret = st["agent"].get("retention", {})
    assert ret.get("enabled") and ret.get("last_run", 0) > 0 and ret.get("last_prune", 0) > 0, st
    assert "Retention:    keep last 3, hourly 24, daily 30, weekly 52, monthly 1200;" in \
        c.as_user(user, uid, "cloudseal", "status").stdout
    pid = agent_prop("MainPID")
    assert c("cat", f"/proc/{pid}/stat").stdout.rsplit(")", 1)[1].split()[16] == "10"
    assert "idle" in c("ionice", "-p", pid).stdout
    # the state file is outside the backed-up configuration even under
    # Debian 12's systemd 252 (where StateDirectory= would be ~/.config)
    r = c("runuser", "-u", user, "--", "sh", "-c",
          "stat -c %a ~/.local/state/cloudseal && test -s ~/.local/state/cloudseal/agent-state.json"
          " && ! test -e ~/.config/cloudseal/agent-state.json", check=False)
    assert r.returncode == 0 and r.stdout.strip() == "700", r.stdout + r.stderr
    # ExecReload= works inside the unit's sandbox: the agent rereads its config
    c.as_user(user, uid, "systemctl", "--user", "reload", "cloudseal-agent.service")
    c.wait("the reload in the journal", lambda: "reloaded the configuration" in c(
        "journalctl", "-q", "--no-pager", "_SYSTEMD_USER_UNIT=cloudseal-agent.service", "-o", "cat",
        check=False).stdout, timeout=15)
    # the log line comes before READY=1 reaches the manager: wait for the state itself
    c.wait("the agent to be active again after the reload",
           lambda: agent_prop("ActiveState") == "active", timeout=15)
    assert agent_prop("NRestarts") == "0"
    if desk:
        guard_pause_calendar(c, desk, user, uid, agent_prop)

    c("systemctl", "stop", f"cs-hold-{uid}.service")
    journal_cmd = ("journalctl", "-q", "--no-pager", "_SYSTEMD_USER_UNIT=cloudseal-agent.service",
                   "-o", "cat")
    if not linger:
        # logind stops user@UID.service, which stops the agent: it revokes the key
        c.wait("the user manager to stop", lambda: c("systemctl", "is-active", f"user@{uid}.service",
                                                     check=False).stdout.strip() != "active", timeout=30)
        c.wait("the key to be revoked after logout", lambda: not key_in_keyring(), timeout=30)
        journal = c(*journal_cmd, check=False).stdout
        assert "stopping (signal 15)" in journal, journal
        assert "revoked the key in the keyring" in journal, journal
        return
    c.wait("the last session to end", lambda: "lingering" in c("loginctl", "show-user", user, "-p", "State",
                                                               check=False).stdout, timeout=30)
    if lock == "reboot":
        # the key stays: backups go on overnight under lingering (the backup
        # below needs it, which is the proof; no delay decides anything)
        assert key_in_keyring()
        r = c.as_user(user, uid, "cloudseal", "agent", "backup-now")
        assert "started" in r.stdout
        c.wait("a backup after logout", lambda: len(json.loads(c.as_user(
            user, uid, "cloudseal", "--json", "snapshots").stdout)) == 2, timeout=60)
        c.as_user(user, uid, "cloudseal", "lock")  # leave nothing in the shared keyring
        return
    # logout: the last session ends; lock = logout revokes the key although
    # the manager (and the agent) stay up under lingering
    c.wait("the key to be revoked after logout", lambda: not key_in_keyring(), timeout=30)
    c.wait("the agent to show locked", lambda: agent_prop("StatusText").startswith("locked:"), timeout=15)
    journal = c(*journal_cmd, check=False).stdout
    assert "last session ended" in journal and "revoked the key in the keyring" in journal, journal
    assert PASSWORD not in journal


FLEET_PW = "fl33t e2e Pass"


class AdminHost:
    """The fleet administrator's `cloudseal admin`, on the host, publishing
    into the container's storage (before and after it boots)."""

    def __init__(self, d, root):
        d.mkdir()
        self.d, self.conf = d, d / "admin.conf"
        self.conf.write_text(
            f"[storage]\nurl = file://{root}/var/lib/cloudseal/storage\n[paths]\nstate_dir = {d}/state\n"
            f"[fleet]\npublic_key_file = {d}/fleet.pub\nsecret_key_file = {d}/fleet.key\n"
            f"source = {d}/directory.json\ncache = {d}/directory.cache\nstate = {d}/directory.state\n"
            f"local_passwd = {root}/etc/passwd\nlocal_group = {root}/etc/group\n")

    def __call__(self, *args):
        r = subprocess.run([str(BUILD / "cloudseal"), "--config", str(self.conf), "--json", "admin", *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"admin {args}: {r.stdout}{r.stderr}"
        return r.stdout


@pytest.fixture
def fleet_container(rootfs, tmp_path):
    """A workstation of a fleet: the cloudseal and cloudseal-fleet profiles
    given to the container's pam-auth-update, libnss_cloudseal in
    nsswitch.conf, the fleet's public key; one fleet user in the directory."""
    uid = uids.fleet(8)  # keyrings are shared with the host per uid: this run's
    user = f"csf{uid}"
    holder = {}

    def setup(root):
        admin = holder["admin"] = AdminHost(tmp_path / "admin", root)
        admin("keygen", "--secret", str(admin.d / "fleet.key"), "--public", str(admin.d / "fleet.pub"))
        admin("init", "--fleet", "e2e")
        admin("add-user", user, "--uid", str(uid), "--home", f"/home/{user}", "--shell", "/bin/bash")
        (root / "var/lib/cloudseal/storage/users").mkdir(parents=True)
        (root / "var/lib/cloudseal/keybags").mkdir(parents=True)
        admin("publish")
        shutil.copy(admin.d / "fleet.pub", root / "etc/cloudseal/fleet.pub")
        for prof in ("cloudseal", "cloudseal-fleet"):
            shutil.copy(ROOT / "debian" / "pam-configs" / prof, root / "usr/share/pam-configs" / prof)
        # a session held open without pam_cloudseal's session step, so that
        # the key outlives the login below (lock = logout); its account
        # step is the fleet stack's
        (root / "etc/pam.d/cs-hold").write_text(
            "@include common-account\nsession required pam_unix.so\nsession optional pam_systemd.so\n")
        ns = root / "etc/nsswitch.conf"
        ns.write_text(ns.read_text().replace("passwd:         files", "passwd:         files cloudseal")
                      .replace("group:          files", "group:          files cloudseal"))

    with booted(rootfs, tmp_path / "ct", "logout", setup) as c:
        c("env", "DEBIAN_FRONTEND=noninteractive", "pam-auth-update", "--enable", "cloudseal", "cloudseal-fleet")
        c("/usr/libexec/cloudseal/cloudseal-helper", "directory-sync")
        yield c, holder["admin"], user, uid


def test_fleet_user_login_starts_the_agent(fleet_container):
    """A fleet user (no local passwd or shadow entry) gets a user manager
    (the systemd-user account stack: pam_unix does not know the user,
    pam_cloudseal authoritative must say yes), logs in with the keybag
    password through the real login stack, and the agent backs up."""
    c, admin, user, uid = fleet_container
    assert c("getent", "passwd", user).stdout.startswith(f"{user}:x:{uid}:{uid}:")
    assert c("grep", "-c", f"^{user}:", "/etc/passwd", "/etc/shadow", check=False).stdout.count(":0") == 2
    c("install", "-d", "-o", str(uid), "-g", str(uid), "-m", "0700", f"/home/{user}", f"/home/{user}/data",
      f"/var/lib/cloudseal/keybags/{user}", f"/var/lib/cloudseal/storage/users/{user}")
    c("runuser", "-u", user, "--", "sh", "-c", "echo 'precious' > ~/data/thesis.txt")
    out = json.loads(c("runuser", "-u", user, "--", "cloudseal", "--json", "enroll", "--password-stdin",
                       input=FLEET_PW + "\n").stdout)
    c("runuser", "-u", user, "--", "cloudseal", "lock", check=False)
    admin("approve", user, "--key", out["account_public_key"])
    admin("publish")
    c("/usr/libexec/cloudseal/cloudseal-helper", "directory-sync")
    account = json.loads(c("runuser", "-u", user, "--", "cloudseal", "--json", "status").stdout)["account_id"]

    def key_in_keyring():
        return c("runuser", "-u", user, "--", "keyctl", "search", "@u", "user",
                 f"cloudseal:amk:{account}", check=False).returncode == 0

    def agent_prop(prop):
        r = c.as_user(user, uid, "systemctl", "--user", "show", "-p", prop, "--value",
                      "cloudseal-agent.service", check=False)
        return r.stdout.strip()

    try:
        c("systemctl", "--global", "enable", "cloudseal-agent.service", "cloudseal-agent.socket")
        # lingering starts user@UID.service: PAM service systemd-user, account step
        c("loginctl", "enable-linger", user)
        c.wait("the user manager of the fleet user", lambda: c(
            "systemctl", "is-active", f"user@{uid}.service", check=False).stdout.strip() in ("active", "failed"))
        assert c("systemctl", "is-active", f"user@{uid}.service", check=False).stdout.strip() == "active", \
            c.debug()
        c.wait("the user manager to start the agent", lambda: agent_prop("ActiveState") == "active")
        assert agent_prop("StatusText").startswith("locked:")
        c("systemd-run", f"--unit=cs-hold-{uid}", "-p", "PAMName=cs-hold", "-p", f"User={user}", "sleep", "600")
        c.wait("the held session", lambda: "active" in c("loginctl", "show-user", user, "-p", "State",
                                                         check=False).stdout)
        # the fleet login: pam_unix does not know the user, pam_cloudseal
        # authoritative unwraps the keybag and checks the pinned key
        r = c("systemd-run", "--wait", "--pipe", "--quiet", "pamtester", "login", user,
              "authenticate", "acct_mgmt", "open_session", input=FLEET_PW + "\n", check=False)
        assert r.returncode == 0, r.stdout + r.stderr + c.debug()
        c.wait("the key in the keyring after login", key_in_keyring, timeout=20)
        c.wait("a finished backup", lambda: agent_prop("StatusText").startswith("idle, next backup"), timeout=90)
        snaps = json.loads(c.as_user(user, uid, "cloudseal", "--json", "snapshots").stdout)
        snaps = snaps if isinstance(snaps, list) else snaps.get("snapshots", [])
        assert len(snaps) == 1
    finally:
        c.as_user(user, uid, "cloudseal", "lock", check=False)  # leave nothing in the shared keyring
