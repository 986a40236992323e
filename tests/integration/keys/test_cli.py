# SPDX-License-Identifier: MIT
"""The key commands through the real binary: enroll, keybag dump, unlock,
lock, passwd, recover, status; tampering, rollback and an unreachable
storage; the messages people act on."""
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

import waits


KEY_COMMANDS = ["enroll", "passwd", "recover", "unlock", "lock", "status", "keybag"]


def status(cli):
    return json.loads(cli("status", "--json").stdout)


def test_help_for_every_command(cli):
    for cmd in KEY_COMMANDS:
        r = cli(cmd, "--help")
        assert r.stdout.startswith("Usage: cloudseal " + cmd), cmd
    assert cli("keybag", check=False).returncode == 2
    assert cli("unlock", "--bogus", check=False).returncode == 2


def test_enroll_then_dump_shows_no_secret(cli):
    r = cli("enroll", "--password-stdin", input="first password\n")
    code = cli.recovery_re.search(r.stdout).group(1)
    assert "Account public key" not in r.stdout  # only inside a fleet (issue 18)
    st = status(cli)
    assert st["enrolled"] and st["unlocked"] and st["generation"] == 1
    assert len(st["account_id"]) == 64

    d = json.loads(cli("keybag", "dump", "--json").stdout)
    assert d["version"] == 1 and d["generation"] == 1 and d["source"] == "storage"
    assert [s["type"] for s in d["slots"]] == ["password", "recovery"]
    assert d["slots"][0]["kdf"]["memory"] == 8 << 20
    text = cli("keybag", "dump").stdout + json.dumps(d)
    stored = json.loads(cli.storage_keybag.read_text())
    for secret in [code, stored["mac"], stored["payload"]["ciphertext"],
                   stored["slots"][0]["ciphertext"], stored["slots"][0]["kdf"]["salt"],
                   stored["slots"][1]["nonce"], "first password"]:
        assert secret not in text
    # cache: the user's own 0700 directory, files 0600
    assert oct(cli.cache_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((cli.cache_dir / "keybag").stat().st_mode & 0o777) == "0o600"
    assert (cli.cache_dir / "generation").read_text() == "1\n"

    again = cli("enroll", "--password-stdin", input="x\n", check=False)
    assert again.returncode == 1 and "already enrolled" in again.stderr


def test_lock_unlock(cli):
    cli.enroll("pw one")
    assert cli("lock").stdout == "Locked.\n"
    assert cli("lock").stdout == "Already locked.\n"
    assert status(cli)["unlocked"] is False
    bad = cli("unlock", "--password-stdin", input="wrong\n", check=False)
    assert bad.returncode == 3 and "wrong password" in bad.stderr
    assert status(cli)["unlocked"] is False
    cli("unlock", "--password-stdin", input="pw one\n")
    assert status(cli)["unlocked"] is True


def test_unlock_in_a_fresh_user_namespace(cli):
    BUILD = cli.build
    """`cloudseal unlock` for a session that had no password: the key lands in
    the user keyring, where another process of the user (status) finds it."""
    cli.enroll("pw one")
    out = subprocess.run(
        ["unshare", "-U", "-r", "sh", "-c",
         f'echo "pw one" | {BUILD}/cloudseal unlock --password-stdin && '
         f'{BUILD}/cloudseal status --json; r=$?; '
         # the key is in the namespace's user keyring, out of the fixture's reach
         f'{BUILD}/cloudseal lock >&2; exit $r'],
        env={**os.environ, **cli.env}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout[out.stdout.index("{"):])["unlocked"] is True


def test_passwd(cli):
    cli.enroll("old pw")
    bad = cli("passwd", "--password-stdin", input="not it\nnew pw\n", check=False)
    assert bad.returncode == 3
    assert status(cli)["generation"] == 1
    cli("passwd", "--password-stdin", input="old pw\nnew pw\n")
    assert status(cli)["generation"] == 2
    assert cli("unlock", "--password-stdin", input="old pw\n", check=False).returncode == 3
    cli("unlock", "--password-stdin", input="new pw\n")


def test_recover(cli):
    code = cli.enroll("forgotten")
    typed = code.lower().replace("-", " ")
    cli("recover", "--password-stdin", input=f"{typed}\nfresh pw\n")
    assert cli("unlock", "--password-stdin", input="forgotten\n", check=False).returncode == 3
    cli("unlock", "--password-stdin", input="fresh pw\n")
    # the recovery key keeps working
    cli("recover", "--password-stdin", input=f"{code}\nfresher pw\n")
    # a typo is reported as a typo, not as a wrong key
    typo = ("Z" if code[0] != "Z" else "Y") + code[1:]
    r = cli("recover", "--password-stdin", input=f"{typo}\nx\n", check=False)
    assert r.returncode == 2 and "typo" in r.stderr
    r = cli("recover", "--password-stdin", input="not a code\nx\n", check=False)
    assert r.returncode == 2 and "not a recovery key" in r.stderr


def test_tampered_keybag_is_refused(cli):
    """A tampered keybag in storage is reported and never used; the copy
    cached here is (issue 14: storage may deny backups, not an unlock the
    cache allows).  With no cached copy the unlock fails."""
    cli.enroll("pw")
    cli("lock")
    cached = (cli.cache_dir / "generation").read_text()
    kb = json.loads(cli.storage_keybag.read_text())
    kb["generation"] = 9  # not covered by any slot, only by the MAC
    cli.storage_keybag.write_text(json.dumps(kb))
    r = cli("unlock", "--password-stdin", input="pw\n", check=False)
    assert r.returncode == 0 and "tampered" in r.stderr, r.stderr
    assert (cli.cache_dir / "generation").read_text() == cached  # 9 reached no pin
    cli("lock")
    for f in ("keybag", "generation"):
        (cli.cache_dir / f).unlink()
    r = cli("unlock", "--password-stdin", input="pw\n", check=False)
    assert r.returncode == 5 and "tampered" in r.stderr


def test_malformed_generation_pin_is_ignored(cli):
    """The cache's generation pin is read strictly: a sign, a space or
    trailing junk is a damaged pin (warned about, not used), not the number
    strtoull() would make of it."""
    cli.enroll("pw")
    cli("lock")
    for bad in ("+1\n", " 1\n", "1 \n", "1x\n", "-1\n", "\n"):
        (cli.cache_dir / "generation").write_text(bad)
        r = cli("unlock", "--password-stdin", input="pw\n", check=False)
        assert r.returncode == 0, r.stderr
        assert "malformed generation pin" in r.stderr, (bad, r.stderr)
        cli("lock")


def test_hostile_kdf_parameters_are_refused(cli):
    cli.enroll("pw")
    kb = json.loads(cli.storage_keybag.read_text())
    kb["slots"][0]["kdf"]["memory"] = 64 << 30
    cli.storage_keybag.write_text(json.dumps(kb))
    r = cli("unlock", "--password-stdin", input="pw\n", check=False)
    assert r.returncode == 5 and "bounds" in r.stderr


def test_rollback_is_refused(cli):
    cli.enroll("pw1")
    old = cli.storage_keybag.read_bytes()
    cli("passwd", "--password-stdin", input="pw1\npw2\n")
    cli.storage_keybag.write_bytes(old)
    r = cli("unlock", "--password-stdin", input="pw1\n", check=False)
    assert r.returncode == 5 and "rollback" in r.stderr


def test_storage_unreachable_uses_cache(cli):
    cli.enroll("pw")
    cli("lock")
    store = cli.tmp / "storage"
    store.rename(cli.tmp / "storage.away")
    store.write_text("not a directory: every storage access fails\n")
    cli("unlock", "--password-stdin", input="pw\n")
    st = status(cli)
    assert st["unlocked"] and st["keybag_source"] == "cache"
    # a password change made offline is kept locally, marked for upload
    r = cli("passwd", "--password-stdin", input="pw\npw2\n")
    assert "uploaded later" in r.stderr
    assert (cli.cache_dir / "pending").exists()
    # storage back with the older bag: the pending newer cache wins, no rollback alarm
    store.unlink()
    (cli.tmp / "storage.away").rename(store)
    cli("lock")
    cli("unlock", "--password-stdin", input="pw2\n")
    # the next change uploads and clears the mark
    cli("passwd", "--password-stdin", input="pw2\npw3\n")
    assert not (cli.cache_dir / "pending").exists()
    assert json.loads(cli.storage_keybag.read_text())["generation"] == 3


def test_not_enrolled(cli):
    r = cli("unlock", "--password-stdin", input="x\n", check=False)
    assert r.returncode == 4 and "cloudseal enroll" in r.stderr
    assert status(cli)["enrolled"] is False


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to nobody")
def test_non_root_enroll_explains_cache_dir(cli):
    """A user cannot create <state_dir>/keybags/<user> under a root-owned
    state dir: enroll fails before uploading and says what to run."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="cs-keys-"))
    try:
        d.chmod(0o755)
        (d / "state" / "keybags").mkdir(parents=True)
        (d / "storage").mkdir(mode=0o777)
        (d / "storage").chmod(0o777)
        conf = d / "c.conf"
        conf.write_text(f"[storage]\nurl = file://{d}/storage\n[paths]\nstate_dir = {d}/state\n"
                        "[kdf]\nmemory = 8M\ntarget_time_ms = 1\n")
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            str(cli.build / "cloudseal"), "--config", str(conf), "enroll",
                            "--password-stdin"], input="pw\n", capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 1, r.stderr
        assert "your next login creates it" in r.stderr, r.stderr
        assert "cloudseal-helper prepare --user nobody" in r.stderr, r.stderr
        assert not list((d / "storage").rglob("keybag"))
    finally:
        shutil.rmtree(d)


def _on_tty(cli, args, answers, timeout=30):
    """Run cloudseal on a new pseudo-terminal (its controlling tty, so the
    password prompts read /dev/tty with echo off); answer each prompt."""
    import pty
    import select
    import termios
    import time
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(cli.env)
        os.execv(str(cli.build / "cloudseal"), ["cloudseal", *args])
    out, deadline, pending, seen = b"", time.monotonic() + timeout, list(answers), 0
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if pending and out[seen:].rstrip().endswith(b":"):
            # the prompt is written before echo is turned off with TCSAFLUSH,
            # which would discard an answer typed too early: wait until it is
            # off (the master reports the terminal's modes)
            # (a pty's mode change sends the master no event: polled)
            waits.wait_until(lambda: not termios.tcgetattr(fd)[3] & termios.ECHO,
                             max(deadline - time.monotonic(), 0.01), f"echo to turn off: {out!r}")
            os.write(fd, pending.pop(0).encode() + b"\n")
            seen = len(out)
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_prompts_on_a_terminal(cli):
    code, out = _on_tty(cli, ["enroll"], ["one", "two"])
    assert code == 2 and "differ" in out
    code, out = _on_tty(cli, ["enroll"], ["same pw", "same pw"])
    assert code == 0 and "recovery key" in out
    # issue 18: which password, and why the login one
    assert "Give your login password, so that\r\nlogging in unlocks them" in out, out
    assert "Login password for cloudseal: " in out and "New cloudseal password" not in out
    assert "same pw" not in out  # echo was off
    cli("lock")
    code, out = _on_tty(cli, ["unlock"], ["same pw"])
    assert code == 0 and "Unlocked." in out


def test_status_tells_a_damaged_keybag_from_an_unreachable_storage(cli):
    """Issue 17: a corrupted keybag in storage was shown as 'from the local
    cache; storage unreachable'.  Damaged, missing and tampered copies are
    each named for what they are."""
    cli.enroll("pw")
    good = cli.storage_keybag.read_text()
    cli.storage_keybag.write_text(good[:-40])  # truncated: no longer JSON
    out = cli("status").stdout
    assert "storage: its copy is damaged" in out and "unreachable" not in out, out
    assert status(cli)["storage_keybag"] == "damaged"
    cli.storage_keybag.unlink()
    assert status(cli)["storage_keybag"] == "missing"
    # a copy that parses but whose MAC fails: only the key can tell
    kb = json.loads(good)
    kb["generation"] = kb["generation"] + 7
    cli.storage_keybag.write_text(json.dumps(kb))
    out = cli("status").stdout
    assert "does not verify with your key" in out, out
    assert status(cli)["keybag_verified"] is False
    cli.storage_keybag.write_text(good)
    assert status(cli)["keybag_verified"] is True
