# SPDX-License-Identifier: MIT
"""A prune's repack bound (issue 18 item 10, "a size/time bound"): `prune
--max-repack-size` and the agent's [retention] prune_max_repack rewrite at
most that much of packs, those with the most unused data first, say what
they left, and the next prune finishes; check passes after each."""
import json
import os

ROUNDS = 5


def garbage_packs(repo, tmp_path):
    """ROUNDS backups, each packing a file that stays (a_i) with one only
    that backup has (b_i): after forget --keep-last 1 every pack but the
    last is 40..67% unused, worth a repack."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(ROUNDS):
        (src / f"a{i}").write_bytes(os.urandom(300 << 10))
        (src / f"b{i}").write_bytes(os.urandom((i + 2) * (100 << 10)))
        repo.run("backup", src)
        (src / f"b{i}").unlink()
    return src


def test_prune_max_repack_size_bounds_and_the_next_prune_finishes(repo, tmp_path):
    garbage_packs(repo, tmp_path)
    repo.run("forget", "--keep-last", "1")
    whole = json.loads(repo.run("prune", "--dry-run", "--json").stdout)
    assert whole["packs_rewritten"] >= 3 and whole["packs_repack_left"] == 0, whole
    bound = 1600 << 10
    out = repo.run("prune", "--max-repack-size", "1600K").stdout
    assert "; the rest next time" in out and out.split("\n")[1].startswith("repacked "), out
    repo.run("check", "--read-data")
    second = json.loads(repo.run("prune", "--max-repack-size", "1600K", "--json").stdout)
    assert 0 < second["bytes_repacked"] <= bound and second["packs_repack_left"] == 0, second
    repo.run("check", "--read-data")
    third = json.loads(repo.run("prune", "--json").stdout)
    assert third["packs_rewritten"] == 0 and third["packs_deleted"] == 0, third


def test_first_bounded_prune_repacks_at_most_the_bound(repo, tmp_path):
    garbage_packs(repo, tmp_path)
    repo.run("forget", "--keep-last", "1")
    first = json.loads(repo.run("prune", "--max-repack-size", "1600K", "--json").stdout)
    assert 0 < first["bytes_repacked"] <= 1600 << 10, first
    assert first["packs_repack_left"] >= 1 and first["bytes_repack_left"] > 0, first
    repo.run("check", "--read-data")


def test_max_repack_size_needs_a_size(repo):
    r = repo.run("prune", "--max-repack-size", "lots", check=False)
    assert r.returncode == 2, r
    assert "--max-repack-size takes a size like 500M or 2G (0: no bound), not 'lots'" in r.stderr, r.stderr


def test_agent_prune_keeps_to_retention_prune_max_repack(repo, tmp_path, cs_config):
    _, write = cs_config
    write(backup={"exclude": ""},
          retention={"keep_last": "1", "keep_hourly": "0", "keep_daily": "0", "keep_weekly": "0",
                     "keep_monthly": "0", "guard_ratio": "0", "prune_max_repack": "1600K  # as documented"})
    garbage_packs(repo, tmp_path)
    r = repo.run("agent", "retention", "--prune", "--json")
    prune = json.loads(r.stdout.splitlines()[-1])["prune"]
    assert 0 < prune["bytes_repacked"] <= 1600 << 10 and prune["bytes_repack_left"] > 0, r.stdout
    out = repo.run("agent", "retention", "--prune").stdout
    assert "repacked " not in out, out  # the second one finished the work
    repo.run("check", "--read-data")
