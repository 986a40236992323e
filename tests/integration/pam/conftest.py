# SPDX-License-Identifier: MIT
"""The real PAM stack (pam_unix, then pam_cloudseal) in a private mount
namespace (TESTING-NOTES §3).

A Sandbox is a temporary directory with copies of /etc/passwd, group and
shadow plus a test user, pam.d services, a cloudseal.conf with a cheap KDF,
storage and state; sandbox.run(script) runs a shell script under `unshare -m`
with an overlay mounted on /etc whose upper layer holds those files, so
pamtester, pam_unix and the helper see the test user, pam_unix can even
rename a new /etc/shadow into place (which a file bind mount forbids), and
nothing on the host changes (checked after every test by hashing /etc's
files).  Needs root.
"""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

import uids
import waits

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")
UID = uids.local(0)  # this run's (uids.py): the keyring is per uid machine-wide
USER = "cspamtest"
PASSWORD = "Tr0ub4dor&3"
WAITS = pathlib.Path(waits.__file__).resolve()  # its command line, for the scripts


def etc_fingerprint():
    h = hashlib.sha256()
    for p in sorted(pathlib.Path("/etc/pam.d").iterdir()):
        h.update(p.name.encode() + p.read_bytes())
    for f in ("passwd", "group", "shadow"):
        h.update(pathlib.Path("/etc", f).read_bytes())
    return h.hexdigest()


# A syslog receiver on /dev/log inside the namespace (prepend to a script;
# the lines land in $D/syslog.txt): /dev is replaced by a tmpfs holding binds
# of the few device nodes the tools use, so nothing is created in the
# host's /dev.
SYSLOG_CAPTURE = r"""
mkdir -p $D/olddev && mount --rbind /dev $D/olddev
mount -t tmpfs -o mode=755 cs-dev /dev
for n in null zero urandom random full; do : > /dev/$n; mount --bind $D/olddev/$n /dev/$n; done
ln -s /proc/self/fd /dev/fd
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("/dev/log")
out = open(sys.argv[1], "a", buffering=1); print("ready", file=out)
while True: out.write(s.recv(4096).decode(errors="replace") + "\n")
' $D/syslog.txt &
LOGGER=$!
trap 'kill $LOGGER 2>/dev/null' EXIT
python3 WAITS text $D/syslog.txt ready 60
""".replace("WAITS", str(WAITS))

# Put before reading $D/syslog.txt: sends a marker through /dev/log and waits
# until the receiver wrote it.  One socket, one reader, in order: every line
# the module logged before the marker is in the file by then.
SYSLOG_DRAIN = r"""python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b"cs-syslog-marker", "/dev/log")'
python3 WAITS text $D/syslog.txt cs-syslog-marker 60
""".replace("WAITS", str(WAITS))


class Sandbox:
    syslog_capture = SYSLOG_CAPTURE
    syslog_drain = SYSLOG_DRAIN
    build = BUILD
    root = ROOT

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="cs-pamreal-"))
        self.dir.chmod(0o755)
        d = self.dir
        etc = d / "etc"
        (etc / "pam.d").mkdir(parents=True)
        (d / "etc-work").mkdir()
        for f in ("passwd", "group", "shadow"):
            shutil.copy2(f"/etc/{f}", etc / f)
        self.home = d / "home"
        self.home.mkdir()
        os.chown(self.home, UID, UID)
        hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=PASSWORD,
                                capture_output=True, text=True, check=True).stdout.strip()
        with open(etc / "passwd", "a") as f:
            f.write(f"{USER}:x:{UID}:{UID}:PAM test:{self.home}:/bin/sh\n")
        with open(etc / "group", "a") as f:
            f.write(f"{USER}:x:{UID}:\n")
        with open(etc / "shadow", "a") as f:
            f.write(f"{USER}:{hashed}:19000:0:99999:7:::\n")
        self.storage = d / "storage"
        self.state = d / "state"
        (self.storage / "users" / USER).mkdir(parents=True)
        (self.state / "keybags" / USER).mkdir(parents=True)
        for p in (self.storage / "users" / USER, self.state / "keybags" / USER):
            os.chown(p, UID, UID)
            p.chmod(0o700)
        self.config = d / "cloudseal.conf"
        self.write_config()
        self.add_service("cstest")

    def write_config(self, storage_url=None):
        self.config.write_text(
            f"[storage]\nurl = {storage_url or 'file://' + str(self.storage)}\n"
            f"[paths]\nstate_dir = {self.state}\n"
            "[kdf]\ntarget_time_ms = 1\nmemory = 8M\n")

    def add_service(self, name, module_opts="", module=True):
        """A pam.d service: pam_unix decides, pam_cloudseal piggybacks."""
        m = (f"{BUILD}/pam_cloudseal.so config={self.config} "
             f"helper={BUILD}/cloudseal-helper {module_opts}")
        lines = ["auth     [success=1 default=ignore] pam_unix.so nodelay",
                 "auth     requisite pam_deny.so",
                 "auth     required  pam_permit.so"]
        if module:
            lines.append(f"auth     optional  {m}")
        lines += ["account  required  pam_unix.so",
                  "password required  pam_unix.so nodelay"]
        if module:
            lines.append(f"password optional  {m}")
        lines.append("session  required  pam_unix.so")
        if module:
            lines.append(f"session  optional  {m}")
        (self.dir / "etc" / "pam.d" / name).write_text("\n".join(lines) + "\n")

    def run(self, script, *, input=None, check=True, timeout=60, binary=False):
        """Run a sh script in a private mount namespace with the sandbox's
        /etc overlay.  $D, $B, $U, $C are the sandbox, build dir, user, config."""
        d = self.dir
        prologue = (
            "set -eu\n"
            f"export D={d} B={BUILD} U={USER} C={self.config}\n"
            "mount -t overlay cs-etc -o lowerdir=/etc,upperdir=$D/etc,workdir=$D/etc-work /etc\n")
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", prologue + script],
                           input=input, capture_output=True, text=not binary, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def as_user(self, cmd):
        """A command line run as the test user with a session keyring of its
        own that links @u (so the user keyring is possessed)."""
        return (f"setpriv --reuid={UID} --regid={UID} --clear-groups "
                f"keyctl session - sh -c 'keyctl link @u @s >/dev/null; {cmd}'")

    def enroll(self, password=PASSWORD):
        r = self.run(self.as_user("$B/cloudseal --config $C enroll --password-stdin"),
                     input=password + "\n")
        # enroll unlocks too: start each test locked
        self.run(self.as_user("$B/cloudseal --config $C lock"))
        self._account_id = self.account_id()
        return r.stdout

    def account_id(self):
        r = self.run(self.as_user("$B/cloudseal --config $C status --json"))
        return json.loads(r.stdout)["account_id"]

    def key_bytes(self, uid=UID):
        """How many bytes of the AMK `uid` can read from the test user's @u
        (0: no key, or not readable).  The key itself is never printed."""
        desc = f"cloudseal:amk:{self._account_id}"
        script = (f"k=$({self.as_user(f'keyctl search @u user {desc}')}) || {{ echo 0; exit 0; }}\n"
                  f"setpriv --reuid={uid} --regid={uid} --clear-groups keyctl pipe $k 2>/dev/null | wc -c\n")
        r = self.run(script)
        return int(r.stdout.split()[-1])

    def cleanup(self):
        subprocess.run(["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups",
                        "keyctl", "session", "-", "sh", "-c",
                        "keyctl link @u @s >/dev/null; keyctl clear @u"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def sandbox(build_dir):
    if os.geteuid() != 0:
        pytest.skip("the real PAM stack needs root (unshare -m, bind mounts)")
    before = etc_fingerprint()
    sb = Sandbox()
    yield sb
    sb.cleanup()
    assert etc_fingerprint() == before, "the host's /etc changed"
