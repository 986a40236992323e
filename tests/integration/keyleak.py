# SPDX-License-Identifier: MIT
"""Keys a test leaves in the caller's kernel keyring (fixtures of the whole
tree, imported by tests/integration/conftest.py).

`cloudseal enroll`, `unlock`, `init`... put the account's key
(cloudseal:amk:<account id>) in the caller's user keyring, as a login
would; `cloudseal lock` revokes it, as a logout would.  Run as root, every
key a test does not lock stays in root's keyring for good, one more per
run.  no_key_left (autouse) fails such a test; lock_at_end(env) is the
cleanup for a test that enrolls or unlocks an account of its own."""
import json
import os
import pathlib
import subprocess

import pytest

BUILD = pathlib.Path(__file__).resolve().parents[2] / os.environ.get("O", "build")


@pytest.fixture
def lock_at_end():
    """lock_at_end(env): `cloudseal lock` with that environment (its
    CLOUDSEAL_CONFIG) when the test ends, pass or fail, for a test that
    enrolls or unlocks an account of its own (the repo fixture locks its
    own)."""
    envs = []
    yield envs.append
    for env in envs:
        subprocess.run([str(BUILD / "cloudseal"), "lock"], env=dict(os.environ, **env), capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)


def accounts(tmp_path):
    """The account ids of the keybags a test enrolled (state_dir/keybags/USER/keybag)."""
    ids = set()
    for kb in tmp_path.glob("**/keybags/*/keybag"):
        try:
            ids.add(json.loads(kb.read_text())["account_id"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a test that tampers with its keybag
    return ids


def live_keys(ids):
    """/proc/keys lines of live cloudseal:amk keys of these accounts: {key id: description}."""
    keys = {}
    if not ids:
        return keys
    for line in pathlib.Path("/proc/keys").read_text().splitlines():
        f = line.split(None, 8)
        if len(f) < 9 or f[7] != "user" or "R" in f[1] or "D" in f[1] or f[3] == "expd":
            continue
        desc = f[8].rsplit(":", 1)[0]
        if desc.startswith("cloudseal:amk:") and desc[len("cloudseal:amk:"):] in ids:
            keys[f[0]] = desc
    return keys


@pytest.fixture(autouse=True)
def no_key_left(tmp_path):
    """Every test removes the keys it put in the caller's keyring (`cloudseal
    lock`, as a logout would).  Only keys of the accounts this test enrolled
    count (their ids are random), so tests running at the same time (another
    pytest worker, another checkout) never make this fail.  A key left
    behind is revoked here and the test fails."""
    yield
    left = live_keys(accounts(tmp_path))
    for k in left:
        subprocess.run(["keyctl", "revoke", str(int(k, 16))], capture_output=True)
        subprocess.run(["keyctl", "unlink", str(int(k, 16)), "@u"], capture_output=True)
    assert not left, f"the test left {len(left)} key(s) in the keyring: {sorted(left.values())}; " \
                     "run 'cloudseal lock' at its end (the lock_at_end fixture)"
