# SPDX-License-Identifier: MIT
"""The helper's side of the prompt wire (helper/priv/ui.c) against a
module that does not relay prompts: one from before the wire closes the
helper's fd 0 after its frames, so the helper must fail at once with a
message that says what to do, not wait for an answer until its alarm."""
import json
import os
import pathlib
import struct
import subprocess
import time

PROMPT_HELPER = (pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")
                 / "tests" / "fido2-prompt-helper")
RP = "cloudseal:" + "ab" * 32
PIN = "4711-cs"


def test_module_without_prompts_makes_the_helper_fail_cleanly(keys):
    k = keys.plug(pin=PIN)
    cred, _, _ = keys.make_credential(pin=PIN)
    (keys.dir / "prompt-job.json").write_text(json.dumps(
        {"rp": RP, "cred": cred, "salt": os.urandom(32).hex(), "pin": True}))
    frame = struct.pack(">I", 8) + b"password"            # what the old module sent, then EOF
    start = time.monotonic()
    r = subprocess.run([str(PROMPT_HELPER), "login", "--user", "nobody"],
                       input=frame, capture_output=True, timeout=120, env=keys.env())
    assert time.monotonic() - start < 30                  # no wait for an answer
    assert r.returncode == 11
    assert (keys.dir / "prompt-result").read_text() == "error EPROTONOSUPPORT\n"
    assert b"pam_cloudseal did not answer the prompt" in r.stderr
    assert b"update libpam-cloudseal" in r.stderr
    # what it wrote on fd 1 is exactly one well-formed SECRET prompt
    text = b"Security key PIN: "
    assert r.stdout == bytes([0x82, 0]) + struct.pack(">H", len(text)) + text
    assert k.retries() == 8                               # the key never saw a PIN attempt
