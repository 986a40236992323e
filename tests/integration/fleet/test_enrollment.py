# SPDX-License-Identifier: MIT
"""Enrollment in a fleet: the signed enrollment request `cloudseal enroll`
files and `admin approve --from-storage` pins (changed, forged or misfiled
requests refused, nothing pinned), and key escrow: with an escrow key in the
directory, enroll seals the account key to it and `admin recover-user`
gives a user who lost everything a one-time password."""
import base64
import hashlib
import json
import os
import pathlib
import subprocess

import pytest

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")
NSS_WRAPPER = "libnss_wrapper.so"


def run(cmd, *, input=None, env=None):
    r = subprocess.run(cmd, input=input, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r

PW = "enrollment request password"
_RAN_AS = set()  # (fleet, user) of this test's as_user(): locked at its end


@pytest.fixture(autouse=True)
def lock_users_at_end():
    """Each user a test ran cloudseal as is locked when it ends, as a logout
    would: their keys are in our keyring (tests/integration/keyleak.py)."""
    yield
    for fleet, name in list(_RAN_AS):
        as_user(fleet, name, "lock", input="", check=False)
    _RAN_AS.clear()


def as_user(fleet, name, *args, input=PW + "\n", check=True):
    """cloudseal ARGS as user `name`: nss_wrapper maps our uid to it."""
    _RAN_AS.add((fleet, name))
    passwd = fleet.tmp / f"passwd-{name}"
    passwd.write_text(f"{name}:x:{os.getuid()}:{os.getgid()}::{fleet.tmp}:/bin/sh\n")
    group = fleet.tmp / f"group-{name}"
    group.write_text(f"{name}:x:{os.getgid()}:\n")
    env = dict(os.environ, LD_PRELOAD=NSS_WRAPPER, NSS_WRAPPER_PASSWD=str(passwd),
               NSS_WRAPPER_GROUP=str(group))
    r = subprocess.run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), *args], input=input, env=env,
                       capture_output=True, text=True, timeout=120)
    assert not check or r.returncode == 0, r.stderr
    return r


def enroll_as(fleet, name, *extra):
    return as_user(fleet, name, "enroll", "--password-stdin", *extra)


def pinned_key(fleet, name):
    src = json.loads(fleet.source.read_text())
    users = src["users"]
    u = users[name] if isinstance(users, dict) else next(x for x in users if x.get("name") == name)
    return u.get("account_key")


def request_path(fleet, name):
    return fleet.store / "users" / name / "enrollment-request"


def test_enroll_files_a_request_and_approve_pins_that_key(fleet):
    out = json.loads(enroll_as(fleet, "carol", "--json").stdout)
    assert out["enrollment_request"] == "filed", out
    key_b64 = base64.b64encode(bytes.fromhex(out["account_public_key"])).decode()
    req = json.loads(request_path(fleet, "carol").read_text())
    assert req["user"] == "carol" and req["account_key"] == key_b64 and req["version"] == 1

    fleet.cli("add-user", "carol")
    r = fleet.cli("approve", "carol", "--from-storage")
    assert key_b64 in r.stdout and "from host" in r.stdout and "confirm this key" in r.stdout
    assert pinned_key(fleet, "carol") == key_b64
    # the text output says the same to a person
    text = enroll_as(fleet, "dave").stdout
    assert "approve --from-storage dave" in text


def test_changed_forged_or_misfiled_requests_are_refused(fleet):
    enroll_as(fleet, "carol")
    fleet.cli("add-user", "carol")
    path = request_path(fleet, "carol")
    good = json.loads(path.read_text())

    def refused(doc, why):
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        r = fleet.cli("approve", "carol", "--from-storage", check=False)
        assert r.returncode != 0, r.stdout
        assert why in r.stderr, r.stderr
        assert pinned_key(fleet, "carol") is None

    other = base64.b64encode(bytes(range(32))).decode()
    refused({**good, "host": "elsewhere"}, "does not verify")
    refused({**good, "time": good["time"] + 1}, "does not verify")
    refused({**good, "account_key": other}, "does not verify")
    refused({**good, "signature": base64.b64encode(b"\0" * 64).decode()}, "does not verify")
    refused({**good, "version": 2}, "unsupported version")
    refused({k: v for k, v in good.items() if k != "signature"}, "signature")
    refused(json.dumps(good)[:-5], "not valid JSON")
    refused(json.dumps(good) + "x", "not valid JSON")  # json-c stops at the stray byte
    refused(" " * 5000, "larger than")
    # a valid request of someone else's, copied to carol's name
    enroll_as(fleet, "mallory")
    refused(request_path(fleet, "mallory").read_text(), "filed for user 'mallory'")
    # the real one still works
    path.write_text(json.dumps(good))
    fleet.cli("approve", "carol", "--from-storage")
    assert pinned_key(fleet, "carol") == good["account_key"]


def test_no_request_outside_a_fleet(cs_config, tmp_path, build_dir, lock_at_end):
    path, _ = cs_config  # no [fleet]: this workstation is in none
    env = dict(os.environ, CLOUDSEAL_CONFIG=str(path))
    lock_at_end({"CLOUDSEAL_CONFIG": str(path)})
    r = run([str(BUILD / "cloudseal"), "enroll", "--password-stdin", "--json"], input=PW + "\n", env=env)
    assert "enrollment_request" not in json.loads(r.stdout)
    assert not list((tmp_path / "storage").rglob("enrollment-request"))


def escrowed_fleet(fleet):
    """The fleet with an escrow key in its signed directory, installed here."""
    fleet.cli("keygen", "--secret", "unused.key", "--public", "unused.pub",
              "--escrow-secret", "escrow.key", "--escrow-public", "escrow.pub")
    epk = [l for l in (fleet.tmp / "escrow.pub").read_text().splitlines() if l and not l.startswith("#")][0]
    fleet.source = fleet.tmp / "escrowed.json"
    fleet.cli("init", "--fleet", "test", "--escrow-key", epk)
    fleet.cli("add-user", "carol")
    fleet.publish()
    fleet.sync()
    return fleet.tmp / "escrow.key"


def recover(fleet, name, secret, check=True):
    r = subprocess.run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "--json", "admin", "--source",
                        str(fleet.source), "recover-user", name, "--escrow-secret", str(secret)],
                       capture_output=True, text=True, timeout=120)
    assert not check or r.returncode == 0, r.stderr
    return r


def test_escrow_lets_the_admin_give_a_new_password(fleet):
    secret = escrowed_fleet(fleet)
    out = json.loads(enroll_as(fleet, "carol", "--json").stdout)
    assert out["escrow"] == "filed" and out["enrollment_request"] == "filed", out
    assert "escrowed" in enroll_as(fleet, "erin").stdout  # the text says so to the user
    esc = json.loads((fleet.store / "users" / "carol" / "escrow").read_text())
    assert esc["user"] == "carol" and "sealed" in esc
    fleet.cli("approve", "carol", "--from-storage")

    # carol forgot her password and lost her recovery key
    as_user(fleet, "carol", "lock", input="")
    otp = json.loads(recover(fleet, "carol", secret).stdout)["one_time_password"]
    assert len(otp) == 20
    r = as_user(fleet, "carol", "unlock", "--password-stdin", input=otp + "\n", check=False)
    assert r.returncode == 0
    # the administrator knows it: marked expired until she chooses her own
    assert "set by an administrator: choose your own with 'cloudseal passwd'" in r.stderr, r.stderr
    as_user(fleet, "carol", "lock", input="")
    assert as_user(fleet, "carol", "unlock", "--password-stdin", check=False).returncode != 0  # old one
    # and she sets her own
    as_user(fleet, "carol", "passwd", "--password-stdin", input=f"{otp}\nher new password\n")
    as_user(fleet, "carol", "lock", input="")
    r = as_user(fleet, "carol", "unlock", "--password-stdin", input="her new password\n", check=False)
    assert r.returncode == 0 and "set by an administrator" not in r.stderr, r.stderr
    as_user(fleet, "carol", "lock", input="")


def test_escrow_refusals_change_nothing(fleet):
    secret = escrowed_fleet(fleet)
    enroll_as(fleet, "carol")
    enroll_as(fleet, "mallory")
    keybag = fleet.store / "users" / "carol" / "keybag"
    before = keybag.read_bytes()
    escrow = fleet.store / "users" / "carol" / "escrow"
    good = escrow.read_text()

    escrow.write_text((fleet.store / "users" / "mallory" / "escrow").read_text())
    r = recover(fleet, "carol", secret, check=False)
    assert r.returncode != 0 and "filed for user 'mallory'" in r.stderr, r.stderr
    doc = json.loads(good)
    doc["account_id"] = "0" * 64
    escrow.write_text(json.dumps(doc))
    r = recover(fleet, "carol", secret, check=False)
    assert r.returncode != 0 and "swapped or forged" in r.stderr, r.stderr
    escrow.write_text(good)
    secret.chmod(0o644)
    r = recover(fleet, "carol", secret, check=False)
    assert r.returncode != 0 and "chmod 600" in r.stderr, r.stderr
    secret.chmod(0o600)
    # a key pinned for carol that is not the escrowed one (someone else's enrollment approved)
    mallory_key = json.loads((fleet.store / "users" / "mallory" / "enrollment-request").read_text())["account_key"]
    fleet.cli("approve", "carol", "--key", mallory_key)
    r = recover(fleet, "carol", secret, check=False)
    assert r.returncode != 0 and "not the key the directory pins" in r.stderr, r.stderr
    assert keybag.read_bytes() == before


def test_admin_enrolled_user_is_escrowed_too(fleet):
    secret = escrowed_fleet(fleet)
    fleet.cli("add-user", "dave")
    r = subprocess.run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "--json", "admin", "--source",
                        str(fleet.source), "enroll-user", "dave"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)["one_time_password"]
    assert (fleet.store / "users" / "dave" / "escrow").exists()
    otp = json.loads(recover(fleet, "dave", secret).stdout)["one_time_password"]
    assert otp != first
    assert as_user(fleet, "dave", "unlock", "--password-stdin", input=otp + "\n", check=False).returncode == 0
    as_user(fleet, "dave", "lock", input="")
    assert as_user(fleet, "dave", "unlock", "--password-stdin", input=first + "\n", check=False).returncode != 0


def keybag_floor(fleet, name):
    return next(u for u in json.loads(fleet.source.read_text())["users"] if u["name"] == name).get("keybag")


def floor_of(path):
    """What the directory's "keybag" names for the keybag at path."""
    raw = path.read_bytes()
    return {"generation": json.loads(raw)["generation"],
            "sha256": base64.b64encode(hashlib.sha256(raw).digest()).decode()}


def test_publish_raises_the_keybag_floor_only_from_valid_seals(fleet):
    """admin publish carries each pinned user's newest keybag into the
    signed directory from their keybag seal, and never lowers it: a
    replayed, misfiled or missing seal keeps it, and the admin is told."""
    for name in ("carol", "mallory"):
        fleet.cli("add-user", name)
        enroll_as(fleet, name)
        fleet.cli("approve", name, "--from-storage")
    seal = fleet.store / "users" / "carol" / "keybag-seal"
    keybag = fleet.store / "users" / "carol" / "keybag"
    first = seal.read_text()
    assert json.loads(first)["generation"] == 1
    fleet.publish()
    assert keybag_floor(fleet, "carol") == floor_of(keybag)

    as_user(fleet, "carol", "passwd", "--password-stdin", input=f"{PW}\nnew carol password\n")
    assert json.loads(seal.read_text())["generation"] == 2
    current = seal.read_text()
    r = fleet.publish()
    assert keybag_floor(fleet, "carol") == floor_of(keybag) and floor_of(keybag)["generation"] == 2
    assert "keybag floor raised for 1 user" in r.stderr, r.stderr
    body = json.loads((fleet.store / "fleet" / "directory").read_text().split("\n", 1)[1])
    assert next(u for u in body["users"] if u["name"] == "carol")["keybag"] == floor_of(keybag)

    cases = ((first, "older than the published"),
             ((fleet.store / "users" / "mallory" / "keybag-seal").read_text(), "filed for user 'mallory'"),
             (current.replace('"generation":2', '"generation":3'), "does not verify"),
             (None, "missing from storage"))
    for text, words in cases:
        if text is None:
            seal.unlink()
        else:
            seal.write_text(text)
        r = fleet.publish()
        assert keybag_floor(fleet, "carol") == floor_of(keybag), words
        assert words in r.stderr, r.stderr
    # a source that lost it (another checkout) gets it back from the published directory
    src = json.loads(fleet.source.read_text())
    del next(u for u in src["users"] if u["name"] == "carol")["keybag"]
    fleet.source.write_text(json.dumps(src))
    fleet.publish()
    assert keybag_floor(fleet, "carol") == floor_of(keybag)
    # pinning another account's key starts its floor afresh
    mallory_key = json.loads((fleet.store / "users" / "mallory" / "enrollment-request").read_text())["account_key"]
    fleet.cli("approve", "carol", "--key", mallory_key)
    assert keybag_floor(fleet, "carol") is None


def test_recover_user_retires_the_forgotten_password(fleet):
    """The one-time password of admin recover-user is a new keybag the
    source records at once: with the next publish every older keybag of the
    user (the forgotten password) is refused fleet-wide."""
    secret = escrowed_fleet(fleet)
    enroll_as(fleet, "carol")
    fleet.cli("approve", "carol", "--from-storage")
    fleet.publish()
    keybag = fleet.store / "users" / "carol" / "keybag"
    assert keybag_floor(fleet, "carol")["generation"] == 1
    recover(fleet, "carol", secret)
    floor = keybag_floor(fleet, "carol")
    assert floor.pop("one_time") > 0                 # publish reminds the admin until she replaces it
    assert floor == floor_of(keybag) and floor_of(keybag)["generation"] == 2
    assert json.loads((fleet.store / "users" / "carol" / "keybag-seal").read_text())["generation"] == 2


def test_publish_reminds_of_a_one_time_password_until_it_is_replaced(fleet):
    """A bucket writer can hide the seal of the user's own password (put the
    one-time keybag's seal back): the floor then stays at the one-time
    keybag, and publish says so every time until a newer seal arrives."""
    fleet.cli("add-user", "dave")
    r = subprocess.run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "--json", "admin", "--source",
                        str(fleet.source), "enroll-user", "dave"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    otp = json.loads(r.stdout)["one_time_password"]
    keybag = fleet.store / "users" / "dave" / "keybag"
    seal = fleet.store / "users" / "dave" / "keybag-seal"
    assert keybag_floor(fleet, "dave")["generation"] == 1 and keybag_floor(fleet, "dave")["one_time"] > 0
    r = fleet.publish()
    assert "'dave' still has the one-time password" in r.stderr, r.stderr
    body = json.loads((fleet.store / "fleet" / "directory").read_text().split("\n", 1)[1])
    assert next(u for u in body["users"] if u["name"] == "dave")["keybag"] == floor_of(keybag)  # no "one_time"

    otp_seal = seal.read_text()
    as_user(fleet, "dave", "passwd", "--password-stdin", input=f"{otp}\ndave's own password\n")
    own_seal = seal.read_text()
    seal.write_text(otp_seal)                      # hidden
    r = fleet.publish()
    assert "'dave' still has the one-time password" in r.stderr, r.stderr
    assert keybag_floor(fleet, "dave")["generation"] == 1
    seal.write_text(own_seal)
    r = fleet.publish()
    assert "still has the one-time password" not in r.stderr, r.stderr
    assert keybag_floor(fleet, "dave") == floor_of(keybag) and floor_of(keybag)["generation"] == 2
