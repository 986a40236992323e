# SPDX-License-Identifier: MIT
"""The golden fixtures (tests/golden/v1/, written by an earlier build with
tests/golden/make-fixtures.py) must read exactly as they did: a refactoring
of the parsers and encoders that changes what a repository, keybag, archive,
signed directory or NSS cache of today means fails here, naming the reading
that changed (tests/golden/v1/expected/NAME).

Each test reads a copy of the fixtures (tests/golden/golden.py): the files
in the tree are never written, which test_manifest checks.
"""
import json
import pathlib
import shutil
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "golden"))
import golden  # noqa: E402

V1 = ROOT / "tests" / "golden" / "v1"
EXPECTED = golden.read_expected(V1)


@pytest.fixture(scope="module")
def tools(build_dir):
    for p in (golden.TEST_NSS, golden.FLEET_TOOL, golden.GOLDEN_TOOL):
        if not p.exists():
            pytest.fail(f"{p} missing: run 'make all fleet-test-tools golden-tool'")


@pytest.fixture(scope="module")
def reading(tmp_path_factory, tools):
    """What the current build prints when reading the fixtures, read once."""
    return golden.read_all(V1, tmp_path_factory.mktemp("golden") / "r")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reading_is_unchanged(reading, name):
    assert reading.get(name) == EXPECTED[name], (
        f"{name}: the current build reads the golden fixtures differently from the build that "
        f"wrote them (tests/golden/v1/expected/{name}); a refactoring must not change the format")


def test_every_reading_is_expected(reading):
    assert sorted(reading) == sorted(EXPECTED)


def test_manifest():
    """The fixture files are those the generator wrote: nothing (a test, a
    read-only command run in the tree) rewrote one."""
    assert golden.manifest_lines(V1) == (V1 / golden.MANIFEST).read_text().splitlines(keepends=True)


def test_modes_cover_the_manifest():
    """Every fixture file has its mode recorded (copies get it back)."""
    files = {line.split("  ", 1)[1] for line in (V1 / golden.MANIFEST).read_text().splitlines()}
    modes = {line.split(" ", 2)[2] for line in (V1 / golden.MODES).read_text().splitlines()
             if line.split(" ", 2)[1] == "f"}
    assert files == modes


def test_secrets_are_the_fixtures():
    """README.md says which secrets these are; the test password is the one
    golden.py uses."""
    secrets = (V1 / "secrets").read_text()
    assert f"password {golden.PASSWORD}\n" in secrets
    assert golden.RECOVERY_RE.search(secrets)


# --- the fixtures can fail: a flipped byte is the specific error --------------

@pytest.fixture
def copy(tmp_path, tools):
    """A scratch copy of the fixtures and its Env, locked again at the end."""
    work = tmp_path / "w"
    golden.copy_fixtures(V1, work)
    env = golden.Env(work)
    env.write_config()
    env.cs("lock", stdin=None, check=False)
    yield env
    env.cs("lock", stdin=None, check=False)


def flip(path, offset=None):
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def backup_dir(env):
    return env.work / "storage" / "users" / golden.USER / "backup"


def fresh_workstation(env):
    fresh = golden.Env(env.work)
    fresh.config = env.work / "fresh.conf"
    fresh.write_config(archive_maildir=env.work / "fresh-Maildir",
                       archive_state=env.work / "fresh-archive-state")
    return fresh


def test_flipped_pack_byte_is_a_damaged_blob(copy):
    pack = sorted((backup_dir(copy) / "data").rglob("*/*"))[-1]
    flip(pack)
    r = copy.cs("check", "--read-data", check=False)
    assert r.returncode == 5, golden.result(r)
    assert f"in pack data/{pack.parent.name}/{pack.name} is damaged" in r.stderr
    assert "ERRORS FOUND" in r.stdout


def test_flipped_snapshot_byte_does_not_authenticate(copy):
    snap = sorted((backup_dir(copy) / "snapshots").iterdir())[0]
    flip(snap)
    shutil.rmtree(copy.work / "backup-cache")   # the cached copy would be used
    r = copy.cs("snapshots", "--password-stdin", check=False)
    assert r.returncode == 5, golden.result(r)
    assert f"snapshot snapshots/{snap.name} is damaged (it does not authenticate)" in r.stderr


def test_flipped_index_byte_is_a_damaged_index(copy):
    index = sorted((backup_dir(copy) / "index").iterdir())[0]
    flip(index)
    shutil.rmtree(copy.work / "backup-cache")
    r = copy.cs("check", check=False)
    assert r.returncode == 5, golden.result(r)
    assert f"index object index/{index.name} is damaged (Bad message)" in r.stderr


def test_flipped_keybag_mac_is_refused(copy):
    """A keybag whose MAC is altered unlocks with nothing: storage's copy and
    the cache's, both altered, leave the account locked, and say why."""
    for bag in (copy.work / "storage" / "users" / golden.USER / "keybag",
                copy.work / "state" / "keybags" / golden.USER / "keybag"):
        doc = json.loads(bag.read_text())
        text = bag.read_text()
        mac = doc["mac"]
        bad = ("B" if mac[0] != "B" else "C") + mac[1:]
        bag.write_text(text.replace(mac, bad))
    r = copy.cs("snapshots", "--password-stdin", check=False)
    assert r.returncode == 5, golden.result(r)
    assert f"the stored keybag of {golden.USER} was tampered with: its MAC does not verify" in r.stderr
    assert "cannot unlock your keys: the keybag is corrupt or was tampered with" in r.stderr


def test_keybag_of_another_version_is_refused(copy):
    bag = copy.work / "storage" / "users" / golden.USER / "keybag"
    bag.write_text(bag.read_text().replace('"version": 1', '"version": 2', 1))
    r = copy.cs("keybag", "dump", stdin=None, check=False)
    assert r.returncode == 5, golden.result(r)
    assert f"the keybag of {golden.USER} in storage is of an unsupported version" in r.stderr


def test_flipped_segment_byte_fails_verification(copy):
    seg = next((copy.work / "storage" / "users" / golden.USER / "archive" / "log").glob("*/*"))
    flip(seg)
    r = fresh_workstation(copy).cs("archive", "sync", "--password-stdin", check=False)
    assert r.returncode == 5, golden.result(r)
    rel = seg.relative_to(copy.work / "storage")
    assert f"archive: {rel} failed verification: it was tampered with or damaged" in r.stderr
    assert not list((copy.work / "fresh-Maildir").rglob("*.golden*"))


def test_flipped_archive_pack_byte_fails_verification(copy):
    pack = next((copy.work / "storage" / "users" / golden.USER / "archive" / "pack").iterdir())
    flip(pack)
    r = fresh_workstation(copy).cs("archive", "sync", "--password-stdin", check=False)
    assert r.returncode == 5, golden.result(r)
    assert "failed verification: storage was tampered with" in r.stderr


def test_flipped_device_state_byte_is_refused(copy):
    flip(copy.work / "archive-state" / "state")
    r = copy.cs("archive", "status", stdin=None, check=False)
    assert r.returncode == 5, golden.result(r)
    assert "archive-state/state is damaged; move it away and sync again" in r.stderr


def test_flipped_signed_directory_byte_is_refused(copy):
    signed = copy.work / "storage" / "fleet" / "directory"
    flip(signed)
    r = copy.admin("verify", signed, check=False)
    assert r.returncode == 5, golden.result(r)
    assert "signature does not verify" in r.stderr


def test_flipped_dircache_byte_is_unavailable(copy):
    flip(copy.work / "directory.cache", 300)
    r = copy.getent("passwd", "alice")
    assert r.returncode == 2 and r.stdout == "", golden.result(r)
    r = copy.admin("show", "--installed", check=False)
    assert r.returncode == 5, golden.result(r)
    assert "no usable directory cache" in r.stderr and "(Bad message)" in r.stderr


def test_flipped_filecache_byte_is_ignored_with_a_warning(copy, tmp_path):
    """The file cache is only a hint: a damaged one is dropped with a warning
    and every file is read, never trusted."""
    cache = next((copy.work / "backup-cache").glob("*/files"))
    flip(cache)
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "f").write_bytes(b"x")
    r = copy.cs("backup", tmp_path / "small", check=False)
    assert r.returncode == 0, golden.result(r)
    assert f"ignoring the unreadable file cache {cache} (Bad message): every file will be read" in r.stderr
