# SPDX-License-Identifier: MIT
"""Software security keys for the tests (tests/fido2/soft_authenticator.py):
one process per plugged-in key, listening on DIR/NAME.sock.

Outside a mount namespace the test builds (build/tests/fido2-tool,
build/test-fido2/cloudseal) find the keys through $CLOUDSEAL_TEST_FIDO2_DIR.
The helper a PAM module execs gets an empty environment and looks in the
compiled-in KEYDIR: namespace_plug() is the shell snippet that mounts a
tmpfs on /run in a Sandbox.run() script and plugs a key in there (with the
state file of a SoftKey used outside, so it is the same key);
namespace_unplug() goes at the end of that script."""
import json
import os
import pathlib
import subprocess

import waits

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOFT = ROOT / "tests" / "fido2" / "soft_authenticator.py"
KEYDIR = "/run/cloudseal-test-fido2"   # tests/fido2/soft_transport.c
WAITS = pathlib.Path(waits.__file__).resolve()


class SoftKey:
    """One software authenticator.  touch: auto, never or file (touched
    when self.touch() is called)."""

    def __init__(self, keys_dir, work, name, pin=None, hmac_secret=True, touch="auto",
                 protocols="1", secret=None, retries=None):
        self.name, self.keys_dir = name, keys_dir
        self.socket = keys_dir / f"{name}.sock"
        self.state = work / f"{name}.json"
        self.log = work / f"{name}.log"
        self.touch_file = work / f"{name}.touch"
        if secret or retries is not None:
            self.state.write_text(json.dumps({"secret": secret or os.urandom(32).hex(), "pin": pin,
                                              "retries": 8 if retries is None else retries, "counter": 0}))
        args = ["/usr/bin/python3", str(SOFT), "--socket", str(self.socket), "--state", str(self.state),
                "--log", str(self.log), "--protocols", protocols,
                "--touch", f"file:{self.touch_file}" if touch == "file" else touch]
        if pin:
            args += ["--pin", pin]
        if not hmac_secret:
            args.append("--no-hmac-secret")
        self.proc = subprocess.Popen(args)
        waits.wait_exists(self.socket, 60, pid=self.proc.pid)

    def touch(self):
        self.touch_file.write_text("")

    def events(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def wait_event(self, text, count=1, timeout=60):
        """Until the log holds `count` lines containing text."""
        waits.wait_for_change([self.log.parent], lambda: sum(text in e for e in self.events()) >= count,
                              timeout, f"{self.name}: {count}x {text!r}", pid=self.proc.pid)

    def unplug(self):
        self.proc.terminate()           # it removes its socket
        self.proc.wait(30)

    def retries(self):
        return json.loads(self.state.read_text())["retries"]


class SoftKeys:
    """The keys a test plugs in: plug() starts one in self.dir (its state
    and log in work), stop() unplugs those still in.  shared: their sockets
    open to every user, for a sandbox user's CLI to talk to them too."""

    def __init__(self, work, keys_dir=None, shared=False):
        self.work = work
        self.dir = keys_dir or work / "keys"
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.shared = shared
        self.all = []

    def plug(self, name="key", **kw):
        k = SoftKey(self.dir, self.work, name, **kw)
        if self.shared:
            os.chmod(k.socket, 0o666)
        self.all.append(k)
        return k

    def stop(self):
        for k in self.all:
            if k.proc.poll() is None:
                k.unplug()


def namespace_plug(state, name="k", args=""):
    """sh: a tmpfs on /run (this namespace only), and the key whose state
    file is `state` plugged in at KEYDIR/NAME.sock; its pid in $KEY."""
    return (f"mount -t tmpfs -o mode=755 cs-run /run\nmkdir -p {KEYDIR}\n"
            f"/usr/bin/python3 {SOFT} --socket {KEYDIR}/{name}.sock --state {state} {args}"
            " </dev/null >/dev/null 2>&1 &\nKEY=$!\n"
            f"python3 {WAITS} exists {KEYDIR}/{name}.sock 60\n")


def namespace_unplug():
    """sh: the end of a script that plugged a key in (its output pipe must close)."""
    return "kill $KEY\n"
