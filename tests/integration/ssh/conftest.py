# SPDX-License-Identifier: MIT
"""A real sshd (Debian's openssh-server) in the PAM tests' sandbox
(tests/integration/pam/conftest.py): its own mount namespace with the /etc
overlay, its own sshd_config and host key in the test directory, UsePAM yes,
listening on 127.0.0.1 on a free port; the PAM stack is the one
pam-auth-update makes (test_fleet_login.fleet_stack) under the service name
sshd, with Debian's pam_keyinit line.  Clients are Debian's ssh with sshpass
or with an SSH_ASKPASS script (every prompt, keyboard-interactive too)."""
import importlib.util
import os
import pathlib
import shutil
import signal
import subprocess

import pytest

import ports
import waits

HERE = pathlib.Path(__file__).resolve().parent
PAM_DIR = HERE.parent / "pam"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pam_conftest = _load("cs_pam_conftest_for_ssh", PAM_DIR / "conftest.py")
fleet_login = _load("cs_fleet_login_for_ssh", PAM_DIR / "test_fleet_login.py")
USER, UID, PASSWORD = pam_conftest.USER, pam_conftest.UID, pam_conftest.PASSWORD


class Sshd:
    """sshd -D in the sandbox's namespace; pam_syslog lines in $D/syslog.txt."""

    def __init__(self, sb, module_opts="", second_factor=False, prelude=""):
        self.sb = sb
        d = sb.dir
        (d / "skel").mkdir(exist_ok=True)
        fleet_login.fleet_stack(sb, "sshd", module_opts)
        pamd = d / "etc" / "pam.d" / "sshd"
        lines = pamd.read_text().splitlines()
        if second_factor:  # a second keyboard-interactive round after ours
            so = d / "pam_second_factor.so"
            subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(HERE / "pam_second_factor.c"), "-lpam"],
                           check=True)
            i = max(n for n, l in enumerate(lines) if l.startswith("auth"))
            lines.insert(i + 1, f"auth    required  {so}")
        i = min(n for n, l in enumerate(lines) if l.startswith("session"))
        lines.insert(i, "session optional  pam_keyinit.so force revoke")  # Debian's sshd has it
        pamd.write_text("\n".join(lines) + "\n")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "hostkey")], check=True)
        # sshd takes its port from the config only: another when it was taken (ports.py)
        self.port = ports.start_on_free_port(lambda port: self._start(port, prelude))

    def _start(self, port, prelude):
        d = self.sb.dir
        (d / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nUsePAM yes\n"
            "PasswordAuthentication yes\nKbdInteractiveAuthentication yes\nPubkeyAuthentication yes\n"
            f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPidFile {d}/sshd.pid\n"
            "PermitRootLogin no\nLogLevel VERBOSE\nMaxAuthTries 3\nLoginGraceTime 60\n")
        script = ("set -eu\n"
                  f"export D={d}\n"
                  "mount -t overlay cs-etc -o lowerdir=/etc,upperdir=$D/etc,workdir=$D/etc-work /etc\n"
                  "mount -t tmpfs -o mode=755 cs-run /run && mkdir -m 755 /run/sshd\n"
                  + prelude
                  + self.sb.syslog_capture +
                  # ptys for interactive sessions: a devpts instance of this namespace's own
                  "mkdir /dev/pts && mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 cs-pts /dev/pts\n"
                  ": > /dev/tty && mount --bind $D/olddev/tty /dev/tty && ln -s pts/ptmx /dev/ptmx\n"
                  # a session keyring of its own, not linked to root's @u, as
                  # systemd gives services (KeyringMode=private)
                  "exec keyctl session - /usr/sbin/sshd -D -e -f $D/sshd_config 2>>$D/sshd.log\n")
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                     start_new_session=True)
        try:
            waits.wait_text(d / "sshd.log", "Server listening", 30, pid=self.proc.pid)
        except AssertionError:
            if not ports.in_use(self.log()):
                raise
            os.killpg(self.proc.pid, signal.SIGKILL)  # sshd is gone: its syslog reader too
            self.proc.wait()
            for f in ("sshd.log", "syslog.txt"):
                (d / f).unlink(missing_ok=True)
            raise ports.PortTaken()
        return port

    def log(self):
        p = self.sb.dir / "sshd.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def syslog(self):
        p = self.sb.dir / "syslog.txt"
        return p.read_text(errors="replace") if p.exists() else ""

    def ssh(self, command, *, method="password", user=USER, password=PASSWORD, askpass=None,
            identity=None, stdin=None, timeout=60, check=True):
        """One login and `command` in the session.  method: password or
        keyboard-interactive (sshpass answers), askpass: a script answering
        every prompt instead, identity: a key file (publickey)."""
        opts = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=20",
                "-p", str(self.port)]
        env = dict(os.environ)
        if identity:
            opts += ["-o", "PreferredAuthentications=publickey", "-o", "IdentitiesOnly=yes", "-i", str(identity)]
            argv = ["ssh", "-o", "BatchMode=yes", "-tt" if command is None else "-T"]
        else:
            opts += ["-o", f"PreferredAuthentications={method}", "-o", "PubkeyAuthentication=no"]
            if askpass:
                env.update(SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY="none")
                argv = ["setsid", "-w", "ssh"]
            else:
                env["SSHPASS"] = password
                argv = ["sshpass", "-e", "ssh"]
        argv += opts + [f"{user}@127.0.0.1"] + ([command] if command is not None else [])
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                           **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}))
        if check and r.returncode != 0:
            raise AssertionError(f"ssh exit {r.returncode}\n{r.stdout}\n{r.stderr}\nsshd:\n{self.log()}\n"
                                 f"syslog:\n{self.syslog()}")
        return r

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def add_user(sb, name, uid, password):
    """A second local user in the sandbox, enrolled and locked; returns its account id."""
    import json
    d = sb.dir
    home = d / f"home-{name}"
    home.mkdir()
    os.chown(home, uid, uid)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password,
                            capture_output=True, text=True, check=True).stdout.strip()
    with open(d / "etc" / "passwd", "a") as f:
        f.write(f"{name}:x:{uid}:{uid}:ssh test:{home}:/bin/sh\n")
    with open(d / "etc" / "group", "a") as f:
        f.write(f"{name}:x:{uid}:\n")
    with open(d / "etc" / "shadow", "a") as f:
        f.write(f"{name}:{hashed}:19000:0:99999:7:::\n")
    for p in (sb.storage / "users" / name, sb.state / "keybags" / name):
        p.mkdir(parents=True)
        os.chown(p, uid, uid)
        p.chmod(0o700)
    as_user = (f"setpriv --reuid={uid} --regid={uid} --clear-groups keyctl session - sh -c "
               "'keyctl link @u @s >/dev/null; $B/cloudseal --config $C enroll --password-stdin >/dev/null && "
               "$B/cloudseal --config $C lock >/dev/null && $B/cloudseal --config $C status --json'")
    return json.loads(sb.run(as_user, input=password + "\n").stdout)["account_id"]


def clear_keys(uid):
    subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "keyctl", "session", "-",
                    "sh", "-c", "keyctl link @u @s >/dev/null; keyctl clear @u"], capture_output=True)


def parked_keys(uid=UID):
    """Live (not expired, not revoked) parked keys of uid in root's user keyring."""
    r = subprocess.run(["sh", "-c", "for k in $(keyctl rlist @u 2>/dev/null); do "
                        "keyctl rdescribe $k 2>/dev/null; done"], capture_output=True, text=True)
    return [l for l in r.stdout.splitlines() if f";cloudseal:parked:{uid}:" in l]


@pytest.fixture
def sandbox(build_dir):
    if os.geteuid() != 0:
        pytest.skip("a real sshd in the PAM sandbox needs root")
    if not shutil.which("sshd", path="/usr/sbin") or not shutil.which("sshpass"):
        pytest.skip("needs openssh-server and sshpass (scripts/install-deps.sh)")
    before = pam_conftest.etc_fingerprint()
    sb = pam_conftest.Sandbox()
    yield sb
    sb.cleanup()
    assert pam_conftest.etc_fingerprint() == before, "the host's /etc changed"


@pytest.fixture
def sshd_factory(sandbox):
    started = []

    def start(**kw):
        s = Sshd(sandbox, **kw)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()
