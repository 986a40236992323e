"""The enrollment request: `cloudseal enroll` on a fleet workstation files a
signed request in storage, `cloudseal admin approve --from-storage` pins
exactly that key, and a request that was changed, forged or filed under
another name is refused with nothing pinned."""
import base64
import json
import os
import pathlib
import subprocess

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")
NSS_WRAPPER = "libnss_wrapper.so"


def run(cmd, *, input=None, env=None):
    r = subprocess.run(cmd, input=input, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r

PW = "enrollment request password"


def enroll_as(fleet, name, *extra):
    """`cloudseal enroll` as user `name`: nss_wrapper maps our uid to it."""
    passwd = fleet.tmp / f"passwd-{name}"
    passwd.write_text(f"{name}:x:{os.getuid()}:{os.getgid()}::{fleet.tmp}:/bin/sh\n")
    group = fleet.tmp / f"group-{name}"
    group.write_text(f"{name}:x:{os.getgid()}:\n")
    env = dict(os.environ, LD_PRELOAD=NSS_WRAPPER, NSS_WRAPPER_PASSWD=str(passwd),
               NSS_WRAPPER_GROUP=str(group))
    r = subprocess.run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "enroll", "--password-stdin",
                        *extra], input=PW + "\n", env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r


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


def test_no_request_outside_a_fleet(cs_config, tmp_path, build_dir):
    path, _ = cs_config  # no [fleet]: this workstation is in none
    env = dict(os.environ, CLOUDSEAL_CONFIG=str(path))
    r = run([str(BUILD / "cloudseal"), "enroll", "--password-stdin", "--json"], input=PW + "\n", env=env)
    assert "enrollment_request" not in json.loads(r.stdout)
    assert not list((tmp_path / "storage").rglob("enrollment-request"))
