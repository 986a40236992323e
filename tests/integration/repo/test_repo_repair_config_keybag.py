# SPDX-License-Identifier: MIT
"""No single damaged object makes intact data unrestorable (issue 17): the
repository's config object and the keybag in storage.

The config: every open keeps a verified copy in the repository's local
cache; with storage's damaged or gone restore uses it, 'repair config' puts
it back; with no copy anywhere restore, ls and check still work and backup
refuses.  The keybag: 'repair keybag' uploads the verified copy cached on
this machine when storage's is missing, damaged or older, never over a
valid newer one."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess

import pytest

PASSWORD = "correct horse battery staple"  # as the repo fixture's
BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")


def digests(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def tree(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "a.txt").write_text("a\n" * 1000)
    (src / "d" / "b.bin").write_bytes(os.urandom(300_000))
    return src


def restore_exact(repo, tmp_path, src, name):
    out = tmp_path / name
    r = repo.run("restore", "latest", "--target", out, check=False)
    assert r.returncode == 0, r.stderr
    assert digests(out / str(src).lstrip("/")) == digests(src)
    return r


def flip(path, at=100):
    data = bytearray(path.read_bytes())
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


def local_copies(repo):
    return sorted(repo.cache.glob("cloudseal/*/config"))


@pytest.fixture
def backed_up(repo, tmp_path):
    src = tree(tmp_path)
    repo.run("backup", src)
    config = repo.repo_dir() / "config"
    return src, config, config.read_bytes()


def test_init_and_open_keep_a_verified_config_copy(repo, backed_up):
    _src, _config, good = backed_up
    copies = local_copies(repo)
    assert len(copies) == 1 and copies[0].read_bytes() == good
    assert copies[0].stat().st_mode & 0o777 == 0o600
    assert copies[0].parent.stat().st_mode & 0o777 == 0o700


def test_flipped_config_byte_restore_exact_repair_puts_it_back(repo, tmp_path, backed_up):
    src, config, good = backed_up
    flip(config)
    r = restore_exact(repo, tmp_path, src, "out1")  # without any repair
    assert "repair config" in r.stderr, r.stderr
    r = repo.run("check", check=False)
    assert r.returncode == 5 and "config" in r.stderr and "damaged" in r.stderr, r.stderr
    r = repo.run("repair", "config", check=False)
    assert r.returncode == 0, r.stderr
    assert "was damaged: put back the verified copy" in r.stdout, r.stdout
    assert config.read_bytes() == good
    r = repo.run("check", "--read-data", check=False)
    assert r.returncode == 0 and "no errors" in r.stdout and "config" not in r.stderr, r.stdout + r.stderr
    r = repo.run("repair", "config")
    assert "authenticates: nothing to repair" in r.stdout
    repo.run("backup", src)  # dedup against the stored data: same gear table
    assert config.read_bytes() == good


def test_deleted_config_is_put_back(repo, tmp_path, backed_up):
    src, config, good = backed_up
    config.unlink()
    restore_exact(repo, tmp_path, src, "out1")
    r = repo.run("repair", "config", check=False)
    assert r.returncode == 0 and "was missing" in r.stdout, r.stdout + r.stderr
    assert config.read_bytes() == good
    assert repo.run("check", check=False).returncode == 0


def test_no_local_copy_restore_ls_check_work_backup_refuses(repo, tmp_path, backed_up):
    src, config, good = backed_up
    saved = tmp_path / "other-machine-cache"
    shutil.copytree(repo.cache, saved)
    shutil.rmtree(repo.cache)
    flip(config)
    r = restore_exact(repo, tmp_path, src, "out1")
    assert "no verified copy" in r.stderr and "repair config" in r.stderr, r.stderr
    r = repo.run("ls", "latest", check=False)
    assert r.returncode == 0 and f"{src}/d/b.bin" in r.stdout.splitlines(), r.stderr
    r = repo.run("check", "--read-data", "--json", check=False)
    assert r.returncode == 5 and json.loads(r.stdout)["errors"] == 1, r.stdout + r.stderr
    r = repo.run("backup", src, check=False)
    assert r.returncode == 5 and "backup refused" in r.stderr and "deduplicate" in r.stderr, r.stderr
    r = repo.run("repair", "config", check=False)
    assert r.returncode == 5 and "no verified copy" in r.stderr, r.stderr
    assert config.read_bytes() != good  # nothing written without a copy
    assert not local_copies(repo)  # a config that fails is never kept
    # a machine that used the repository has one
    shutil.rmtree(repo.cache, ignore_errors=True)
    shutil.copytree(saved, repo.cache)
    assert repo.run("repair", "config", check=False).returncode == 0
    assert config.read_bytes() == good
    assert repo.run("check", check=False).returncode == 0


def test_copies_of_two_repositories_the_right_one_or_none(repo, tmp_path, backed_up, cs_config):
    """The same account's repository on another storage leaves a second
    verified copy: the one that is the damaged object wins; with storage's
    gone, nothing tells them apart and none is put back."""
    src, config, good = backed_up
    write = cs_config[1]
    write(backup={"exclude": ""}, storage={"url": f"file://{tmp_path}/storage2"})
    repo.run("init")
    assert len(local_copies(repo)) == 2
    write(backup={"exclude": ""})
    flip(config)
    restore_exact(repo, tmp_path, src, "out1")
    assert repo.run("repair", "config", check=False).returncode == 0
    assert config.read_bytes() == good
    config.unlink()
    r = restore_exact(repo, tmp_path, src, "out2")
    assert "nothing tells which" in r.stderr, r.stderr
    r = repo.run("repair", "config", check=False)
    assert r.returncode == 5 and "no verified copy" in r.stderr, r.stderr
    assert not config.exists()


def test_another_accounts_config_is_not_replaced(repo, tmp_path, backed_up):
    """A config that does not authenticate in a repository none of whose
    objects do either is not ours: refused as before, nothing written."""
    src, config, good = backed_up
    rd = repo.repo_dir()
    for kind in ("snapshots", "index"):
        for p in (rd / kind).iterdir():
            flip(p, 40)
    flip(config)
    bad = config.read_bytes()
    r = repo.run("repair", "config", check=False)
    assert r.returncode == 5 and "does not authenticate with your keys" in r.stderr, r.stderr
    assert config.read_bytes() == bad


# ---- the keybag in storage ----

def keybag_path(repo):
    return repo.repo_dir().parent / "keybag"


def damage_truncate(p):
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def damage_mac(p):
    doc = json.loads(p.read_text())
    doc["mac"] = ("B" if doc["mac"][0] != "B" else "C") + doc["mac"][1:]
    p.write_text(json.dumps(doc))


def damage_delete(p):
    p.unlink()


def fresh_machine_unlock(repo, tmp_path, name):
    """`cloudseal unlock` with a state directory that has never seen the
    account: only storage's keybag can serve."""
    conf = tmp_path / f"{name}.conf"
    conf.write_text(repo.config.read_text().replace(str(tmp_path / "state"), str(tmp_path / name)))
    env = dict(repo.env, CLOUDSEAL_CONFIG=str(conf))
    return subprocess.run([str(BUILD / "cloudseal"), "unlock", "--password-stdin"], input=PASSWORD + "\n",
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("damage", [damage_truncate, damage_mac, damage_delete])
def test_repair_keybag_puts_the_cached_copy_back(repo, tmp_path, backed_up, damage):
    kb = keybag_path(repo)
    good = kb.read_bytes()
    damage(kb)
    assert fresh_machine_unlock(repo, tmp_path, "fresh1").returncode != 0
    r = repo.run("check", check=False)
    assert r.returncode == 5 and "cloudseal repair keybag" in r.stderr, r.stderr
    r = repo.run("status", check=False)
    assert "'cloudseal repair keybag'" in r.stdout, r.stdout + r.stderr
    r = repo.run("repair", "keybag", check=False)
    assert r.returncode == 0 and "uploaded the verified copy" in r.stdout, r.stdout + r.stderr
    assert kb.read_bytes() == good  # as cached: generation kept, nothing re-wrapped
    assert repo.run("check", check=False).returncode == 0
    r = fresh_machine_unlock(repo, tmp_path, "fresh2")
    assert r.returncode == 0, r.stderr
    r = repo.run("repair", "keybag")
    assert "nothing to repair" in r.stdout and kb.read_bytes() == good


def test_repair_keybag_files_the_seal_on_a_fleet_workstation(repo, tmp_path, backed_up, cs_config):
    """As a keybag change does: the seal of the keybag put back is filed,
    so that the fleet directory can retire older keybags."""
    kb = keybag_path(repo)
    good = kb.read_bytes()
    r = subprocess.run([str(BUILD / "cloudseal"), "admin", "keygen", "--secret", str(tmp_path / "fleet.key"),
                        "--public", str(tmp_path / "fleet.pub")], env=repo.env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    pk = [line for line in (tmp_path / "fleet.pub").read_text().splitlines() if line and line[0] != "#"][0]
    cs_config[1](backup={"exclude": ""}, fleet={"public_key": pk})
    seal = kb.parent / "keybag-seal"
    seal.unlink(missing_ok=True)
    kb.unlink()
    r = repo.run("repair", "keybag", check=False)
    assert r.returncode == 0 and "was missing" in r.stdout, r.stdout + r.stderr
    assert kb.read_bytes() == good
    assert json.loads(seal.read_text())["generation"] == json.loads(good)["generation"]


def passwd(repo):
    return subprocess.run([str(BUILD / "cloudseal"), "passwd", "--password-stdin"],
                          input=f"{PASSWORD}\n{PASSWORD}\n", env=repo.env, capture_output=True, text=True,
                          timeout=120, check=True)


def test_repair_keybag_never_over_a_valid_newer_copy(repo, tmp_path, backed_up):
    kb = keybag_path(repo)
    cache = tmp_path / "state" / "keybags" / next((tmp_path / "state" / "keybags").iterdir()).name
    old = {n: (cache / n).read_bytes() for n in ("keybag", "generation")}
    passwd(repo)  # generation + 1 in storage and here
    newer = kb.read_bytes()
    for n, b in old.items():  # this machine's copy is now the older one
        (cache / n).write_bytes(b)
    r = repo.run("repair", "keybag", check=False)
    assert r.returncode == 0 and "nothing to repair" in r.stdout, r.stdout + r.stderr
    assert kb.read_bytes() == newer


def test_repair_keybag_replaces_an_older_copy(repo, tmp_path, backed_up):
    kb = keybag_path(repo)
    old = kb.read_bytes()
    passwd(repo)
    newer = kb.read_bytes()
    kb.write_bytes(old)  # storage rolled back
    r = repo.run("repair", "keybag", check=False)
    assert r.returncode == 0 and "older than the copy cached here" in r.stdout, r.stdout + r.stderr
    assert kb.read_bytes() == newer
