# SPDX-License-Identifier: MIT
"""The prompt wire (lib/basic/helper_protocol.h) through the real PAM
stack: pam_cloudseal relays what the helper asks ("Touch your security
key.", "Security key PIN: ") through the application's conversation, here
pam_login.py, and answers on the helper's fd 0.

The helper is build/tests/fido2-prompt-helper (helper/priv/ui.c with
lib/crypto/fido2.c and the soft transport): the PIN typed into the
conversation reaches the software authenticator, whose socket lives in a
tmpfs mounted over /run in the test's private mount namespace (the path
the test builds have compiled in).  tests/fido2/hostile_helper.py checks
that a malicious helper cannot push the module out of its bounds."""
import json
import os
import pathlib
import re
import subprocess

from softkey import KEYDIR, SoftKey, namespace_plug, namespace_unplug

PASSWORD = "Tr0ub4dor&3"  # conftest.PASSWORD (importlib mode cannot import conftest)
PIN = "4711-cs"
RP = "cloudseal:" + "ef" * 32
HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
APP = HERE / "pam_login.py"


def tool(sandbox, keys, *args, salt=None):
    pin = ["--pin-file", str(sandbox.dir / "pin")] if (sandbox.dir / "pin").exists() else []
    r = subprocess.run([str(sandbox.build / "tests" / "fido2-tool"), *pin, *args],
                       input=salt + "\n" if salt else None, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, CLOUDSEAL_TEST_FIDO2_DIR=str(keys)))
    assert r.returncode == 0, r.stderr
    return r.stdout


def enrol(sandbox, pin=PIN):
    """A credential on a software key whose state is kept in the sandbox;
    returns (credential hex, the state file).  Made outside the namespace,
    used inside it at the compiled-in path."""
    keys = sandbox.dir / "keys"
    keys.mkdir()
    if pin:
        (sandbox.dir / "pin").write_text(pin + "\n")
        (sandbox.dir / "pin").chmod(0o600)
    key = SoftKey(keys, sandbox.dir, "k", pin=pin)
    try:
        cred = tool(sandbox, keys, "make-credential", RP, "alice").split()[0]
    finally:
        key.unplug()
    return cred, key.state


def login_with_key(sandbox, helper, answers, state=None, setup="", key_args="", app=None, opts=""):
    """pam_login.py through a service whose module execs `helper`, a software
    key (state) plugged in at the compiled-in path; its output, the helper's
    result file and the syslog."""
    sandbox.add_service("csfido2", module_opts=f"helper={helper} {opts}")
    key = namespace_plug(state, args=f"--log $D/key.log {key_args}") if state else \
        f"mount -t tmpfs -o mode=755 cs-run /run\nmkdir -p {KEYDIR}\n"
    script = (sandbox.syslog_capture + key + setup
              + (f"python3 {APP} csfido2 $U || true\n" if app is None else "")
              + f"cat {KEYDIR}/prompt-result 2>/dev/null || echo 'result-file: none'\n"
              + f"cat {KEYDIR}/answer.bin 2>/dev/null | od -An -tx1 > $D/answer.hex\n"
              + (namespace_unplug() if state else "")
              + sandbox.syslog_drain + "cat $D/syslog.txt\n")
    return sandbox.run(script, input="\n".join(answers) + "\n").stdout


def job(sandbox, cred, salt, pin=True):
    return (f"cat > {KEYDIR}/prompt-job.json <<'EOF'\n"
            + json.dumps({"rp": RP, "cred": cred, "salt": salt, "pin": pin}) + "\nEOF\n")


def expected_secret(sandbox, cred, state, salt):
    """What the same key gives fido2-tool for that salt (user verified)."""
    key = SoftKey(sandbox.dir / "keys", sandbox.dir, "k")      # its state file: the same key
    try:
        return tool(sandbox, sandbox.dir / "keys", "hmac-secret", RP, cred, "up", "pin", salt=salt).strip()
    finally:
        key.unplug()


def prompt_helper(sandbox):
    return sandbox.build / "tests" / "fido2-prompt-helper"


def test_touch_and_pin_prompts_reach_the_key(sandbox):
    cred, state = enrol(sandbox)
    salt = os.urandom(32).hex()
    out = login_with_key(sandbox, prompt_helper(sandbox), [PASSWORD, PIN], state, job(sandbox, cred, salt))
    assert "prompt: Security key PIN:" in out
    assert "info: Touch your security key." in out
    assert "result: open_session 0" in out          # piggyback: the login itself went on
    line = next(x for x in out.splitlines() if x.startswith(("ok ", "error ", "result-file")))
    assert line == "ok " + expected_secret(sandbox, cred, state, salt)


def test_wrong_pin_through_the_conversation(sandbox):
    cred, state = enrol(sandbox)
    out = login_with_key(sandbox, prompt_helper(sandbox), [PASSWORD, "0000-wrong"], state,
                         job(sandbox, cred, os.urandom(32).hex()))
    assert "error EACCES" in out
    assert json.loads(state.read_text())["retries"] == 7
    assert "result: open_session 0" in out


def test_no_answer_is_cancelled(sandbox):
    """The application's conversation fails (pam_login.py has no answer
    left): the helper hears 'cancelled', not an empty PIN."""
    cred, state = enrol(sandbox)
    out = login_with_key(sandbox, prompt_helper(sandbox), [PASSWORD], state,
                         job(sandbox, cred, os.urandom(32).hex()))
    assert "error ECANCELED" in out
    assert json.loads(state.read_text())["retries"] == 8
    assert "result: open_session 0" in out


def test_touch_prompt_without_pin(sandbox):
    cred, state = enrol(sandbox, pin=None)
    out = login_with_key(sandbox, prompt_helper(sandbox), [PASSWORD], state,
                         job(sandbox, cred, os.urandom(32).hex(), pin=False))
    assert "info: Touch your security key." in out and "prompt: Security key PIN" not in out
    assert any(x.startswith("ok ") and len(x) == 3 + 64 for x in out.splitlines())


def test_a_prompt_extends_the_run_within_prompt_timeout(sandbox):
    """timeout=2 alone would kill the helper while it waits 5 s for a touch
    that never comes; its touch prompt gives it prompt_timeout more, so it
    reports the timeout itself, and the whole run stays under timeout +
    prompt_timeout."""
    cred, state = enrol(sandbox, pin=None)
    out = login_with_key(sandbox, prompt_helper(sandbox), [PASSWORD], state,
                         job(sandbox, cred, os.urandom(32).hex(), pin=False), key_args="--touch never",
                         opts="timeout=2 prompt_timeout=20")
    assert "info: Touch your security key." in out
    assert "error ETIMEDOUT" in out
    assert "result: open_session 0" in out


def hostile(sandbox, mode, answers=(PASSWORD,), app=None):
    helper = ROOT / "tests" / "fido2" / "hostile_helper.py"
    return login_with_key(sandbox, helper, list(answers), app=app,
                          setup=f"echo {mode} > {KEYDIR}/hostile-mode\n" + (app or ""))


def test_timeout_after_a_prompt_logs_the_real_bound(sandbox):
    """A helper that prompts, then never finishes, is killed at timeout plus
    the time its prompt added (at most prompt_timeout): the syslog says that
    bound, not the base timeout it outlived."""
    sandbox.add_service("csfido2", module_opts=f"helper={ROOT / 'tests' / 'fido2' / 'hostile_helper.py'} "
                        "timeout=1 prompt_timeout=2")
    out = sandbox.run(sandbox.syslog_capture + f"mount -t tmpfs -o mode=755 cs-run /run\nmkdir -p {KEYDIR}\n"
                      f"echo stall > {KEYDIR}/hostile-mode\n"
                      f"python3 {APP} csfido2 $U || true\n" + sandbox.syslog_drain + "cat $D/syslog.txt\n",
                      input=PASSWORD + "\n").stdout
    assert "info: Touch your security key." in out
    m = re.search(r"did not finish within (\d+)\.(\d) s \(timeout=1 s, prompts added (\d+)\.(\d) s, "
                  r"at most prompt_timeout=2 s\) and was killed", out)
    assert m, out
    total, added = int(m[1]) * 10 + int(m[2]), int(m[3]) * 10 + int(m[4])   # tenths of a second
    assert 10 < total <= 30 and total == 10 + added, m[0]


def test_hostile_huge_prompt_is_refused(sandbox):
    out = hostile(sandbox, "huge")
    assert "info:" not in out and "AAAA" not in out
    assert "malformed prompt from the helper" in out
    assert "result: open_session 0" in out


def test_hostile_many_prompts_are_capped(sandbox):
    out = hostile(sandbox, "many")
    shown = [x for x in out.splitlines() if x.startswith("info: notice")]
    assert len(shown) == 8                  # CS_HELPER_PROMPTS_MAX
    assert "malformed prompt from the helper" in out


def test_hostile_control_characters_are_neutralised(sandbox):
    out = hostile(sandbox, "control")
    line = next(x for x in out.splitlines() if x.startswith("info: bell"))
    assert line == "info: bell? esc?[2J nl? del? end"
    assert "\x1b" not in out


def test_hostile_bad_header_is_a_malformed_reply(sandbox):
    out = hostile(sandbox, "badtype")
    assert "info:" not in out
    assert "malformed prompt from the helper" in out


def test_secret_answer_frame(sandbox):
    """The answer: one frame, status OK then the text; nothing else."""
    hostile(sandbox, "answers", answers=(PASSWORD, PIN))
    got = bytes(int(b, 16) for b in (sandbox.dir / "answer.hex").read_text().split())
    assert got == len(PIN).to_bytes(4, "big")[:3] + bytes([len(PIN) + 1, 0]) + PIN.encode()


VALGRIND = ("valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9 "
            "--child-silent-after-fork=yes")


def test_relay_under_valgrind(sandbox):
    """pamtester (C, misc_conv answering from stdin) with the module loaded
    under valgrind: a relayed PIN prompt, then every hostile helper mode."""
    cred, state = enrol(sandbox)
    pam = f"{VALGRIND} pamtester csfido2 $U authenticate open_session; echo pamtester=$?\n"
    out = login_with_key(sandbox, prompt_helper(sandbox), [PASSWORD, PIN], state,
                         job(sandbox, cred, os.urandom(32).hex()) + pam, app=pam)
    assert "pamtester=0" in out and not re.search(r"^==\d+==", out, re.M)
    assert "ok " in out
    for mode in ("huge", "many", "control", "badtype", "answers"):
        out = hostile(sandbox, mode, answers=(PASSWORD, PIN), app=pam)
        assert "pamtester=0" in out and not re.search(r"^==\d+==", out, re.M), (mode, out)
