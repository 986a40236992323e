# SPDX-License-Identifier: MIT
"""cloudseal key add-fido2 / list / remove and unlock --fido2 with the
software CTAP2 authenticator (tests/fido2/soft_authenticator.py) through
the real libfido2 code path (build/test-fido2/cloudseal, the CLI linked
with the test transport).  Policy any: the key alone unlocks; policy both:
the password and the key, neither alone."""
import json
import os
import subprocess

import pytest

from softkey import SoftKeys

PIN = "4711-cs"


@pytest.fixture
def keys(tmp_path, build_dir):
    k = SoftKeys(tmp_path)
    yield k
    k.stop()


class FidoCli:
    """The cli fixture, running the CLI built with the test transport."""

    def __init__(self, cli, binary, keys_dir):
        self.cli, self.binary = cli, binary
        self.env = dict(os.environ, **cli.env, CLOUDSEAL_TEST_FIDO2_DIR=str(keys_dir))

    def __call__(self, *args, input=None, check=True):
        r = subprocess.run([str(self.binary), *args], input=input, env=self.env, capture_output=True,
                           text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"{args} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def enroll(self, password):
        r = self("enroll", "--password-stdin", input=password + "\n")
        m = self.cli.recovery_re.search(r.stdout)
        assert m, r.stdout
        return m.group(1)

    @property
    def storage_keybag(self):
        return self.cli.storage_keybag


@pytest.fixture
def kcli(cli, keys):
    binary = cli.build / "test-fido2" / "cloudseal"
    if not binary.exists():
        pytest.fail(f"{binary} missing: run 'make integration-tools'")
    return FidoCli(cli, binary, keys.dir)


def slots(kcli):
    return json.loads(kcli("key", "list", "--json").stdout)


def test_add_list_unlock_any(kcli, keys):
    kcli.enroll("pw one")
    key = keys.plug("k1")
    r = kcli("key", "add-fido2", "--name", "blue key", "--password-stdin", input="pw one\n")
    assert 'Added security key "blue key"' in r.stdout, r.stdout
    assert "Touch your security key." in r.stderr
    listed = slots(kcli)
    assert [s["type"] for s in listed] == ["password", "recovery", "fido2"]
    k = listed[2]
    assert k["policy"] == "any" and k["name"] == "blue key" and len(k["credential_prefix"]) == 16
    text = kcli("key", "list").stdout
    assert "blue key" in text and "fido2" in text
    raw = kcli.storage_keybag.read_text()
    for secret_field in ("salt", "nonce", "ciphertext", "credential\""):
        assert secret_field not in kcli("key", "list", "--json").stdout
    assert '"credential"' in raw  # (the keybag itself carries it)

    # the key alone unlocks: nothing on stdin
    kcli("lock")
    r = kcli("unlock", "--fido2", input="")
    assert "Unlocked." in r.stdout and "Touch your security key." in r.stderr
    # the password still does (policy any)
    kcli("lock")
    kcli("unlock", "--password-stdin", input="pw one\n")
    # key absent
    kcli("lock")
    key.unplug()
    r = kcli("unlock", "--fido2", input="", check=False)
    assert r.returncode == 3
    assert "No security key found: plug it in and run 'cloudseal unlock --fido2' again" in r.stderr
    # a different authenticator: not one of yours
    keys.plug("other")
    r = kcli("unlock", "--fido2", input="", check=False)
    assert r.returncode == 3 and "not one of yours" in r.stderr, r.stderr


def test_policy_both(kcli, keys):
    kcli.enroll("pw two")
    keys.plug("k1", pin=PIN)
    r = kcli("key", "add-fido2", "--policy", "both", "--name", "office", "--password-stdin",
             input=f"pw two\n{PIN}\n{PIN}\n")
    assert "your password alone no longer unlocks" in r.stdout, r.stdout
    assert "Keep your recovery key" in r.stdout
    listed = slots(kcli)
    assert [s["type"] for s in listed] == ["recovery", "fido2"]
    assert listed[1]["policy"] == "both"

    kcli("lock")
    # password right, PIN right: unlocked (plain unlock asks the key as well)
    r = kcli("unlock", "--password-stdin", input=f"pw two\n{PIN}\n")
    assert "Unlocked." in r.stdout, r.stderr
    kcli("lock")
    r = kcli("unlock", "--fido2", "--password-stdin", input=f"pw two\n{PIN}\n")
    assert "Unlocked." in r.stdout
    kcli("lock")
    # password wrong (the key right): refused
    r = kcli("unlock", "--fido2", "--password-stdin", input=f"pw 2\n{PIN}\n", check=False)
    assert r.returncode == 3 and "wrong password" in r.stderr, r.stderr
    # wrong PIN: refused, says so
    r = kcli("unlock", "--fido2", "--password-stdin", input="pw two\n0000-no\n", check=False)
    assert r.returncode == 3 and "wrong PIN" in r.stderr, r.stderr
    # the password without the key: refused
    keys.all[0].unplug()
    r = kcli("unlock", "--password-stdin", input="pw two\n", check=False)
    assert r.returncode == 3 and "No security key found" in r.stderr, r.stderr
    # a password change would drop the key: refused, with the way to do it
    r = kcli("passwd", "--password-stdin", input="pw two\nnew\n", check=False)
    assert r.returncode == 1 and "changing the password would remove the keys" in r.stderr, r.stderr


def test_recovery_is_the_way_back(kcli, keys):
    code = kcli.enroll("pw three")
    keys.plug("k1")
    kcli("key", "add-fido2", "--policy", "both", "--password-stdin", input="pw three\n")
    kcli("lock")
    keys.all[0].unplug()  # lost
    kcli("recover", "--password-stdin", input=f"{code}\nafter loss\n")
    kcli("lock")
    kcli("unlock", "--password-stdin", input="after loss\n")
    assert [s["type"] for s in slots(kcli)] == ["recovery", "password"]


def test_remove_and_last_way_in(kcli, keys):
    kcli.enroll("pw four")
    keys.plug("k1")
    kcli("key", "add-fido2", "--name", "first", "--password-stdin", input="pw four\n")
    first = slots(kcli)[2]["id"]
    # the recovery slot is never removed; the password may go (the key remains)
    r = kcli("key", "remove", "2", check=False)
    assert r.returncode == 1 and "recovery key" in r.stderr
    kcli("key", "remove", "1")
    r = kcli("key", "remove", str(first), check=False)
    assert r.returncode == 1 and "last way in" in r.stderr
    r = kcli("key", "remove", "99", check=False)
    assert r.returncode == 4

    # a second key; the first removed no longer unlocks, the second does
    keys.all[0].unplug()
    keys.plug("k2")
    kcli("key", "add-fido2", "--name", "second")
    kcli("key", "remove", str(first))
    assert [s["name"] for s in slots(kcli) if s["type"] == "fido2"] == ["second"]
    kcli("lock")
    kcli("unlock", "--fido2", input="")
    kcli("lock")
    keys.all[1].unplug()
    keys.plug("k1")  # the removed one (same authenticator state)
    r = kcli("unlock", "--fido2", input="", check=False)
    assert r.returncode == 3 and "not one of yours" in r.stderr, r.stderr


def test_unlock_fido2_without_keys_enrolled(kcli, keys):
    kcli.enroll("pw five")
    kcli("lock")
    r = kcli("unlock", "--fido2", input="", check=False)
    assert r.returncode == 4 and "cloudseal key add-fido2" in r.stderr
