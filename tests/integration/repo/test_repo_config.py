# SPDX-License-Identifier: MIT
"""Configuration mistakes are configuration errors (issue 17, item 6): a
named configuration file that is missing or empty, a key given twice, and
a file:// URL naming a missing directory, which read-only commands must
not create (only the first write, by init or enroll, does)."""
import os
import pathlib
import subprocess

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")


def cloudseal(env, *args):
    return subprocess.run([str(BUILD / "cloudseal"), *map(str, args)], env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=60, input="")


def test_missing_or_empty_config_file_is_a_config_error(tmp_path):
    missing = tmp_path / "nope.conf"
    r = cloudseal({"CLOUDSEAL_CONFIG": str(missing), "HOME": str(tmp_path)}, "snapshots")
    assert r.returncode == 2, r.stderr
    assert f"the configuration file {missing} does not exist: fix --config or $CLOUDSEAL_CONFIG" in r.stderr
    assert "enroll" not in r.stderr, r.stderr
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    r = cloudseal({"HOME": str(tmp_path)}, "--config", empty, "snapshots")
    assert r.returncode == 2 and f"{empty} sets nothing" in r.stderr, r.stderr
    assert "enroll" not in r.stderr, r.stderr


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text(f"[storage]\nurl = file://{tmp_path}/a\n[kdf]\nmemory = 8M\n"
                    f"[storage]\n# the second one used to win silently\nurl = file://{tmp_path}/b\n")
    r = cloudseal({"CLOUDSEAL_CONFIG": str(conf), "HOME": str(tmp_path)}, "snapshots")
    assert r.returncode == 2, r.stderr
    assert f"{conf}:7: 'url' in [storage] is given twice (first on line 2): keep one" in r.stderr, r.stderr


def test_read_only_commands_do_not_create_the_storage_directory(tmp_path, cs_config, build_dir, lock_at_end):
    path, write = cs_config
    store = tmp_path / "no" / "such" / "store"
    write(storage={"url": f"file://{store}"})
    env = {"CLOUDSEAL_CONFIG": str(path), "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    lock_at_end(env)
    for args in (("snapshots",), ("check",), ("status",), ("locks",)):
        cloudseal(env, *args)
        assert not (tmp_path / "no").exists(), f"'cloudseal {' '.join(args)}' created the storage directory"
    r = subprocess.run([str(BUILD / "cloudseal"), "enroll", "--password-stdin"], env=dict(os.environ, **env),
                       input="correct horse battery staple\n", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert store.is_dir()


def test_config_option_naming_a_missing_file_is_an_error(tmp_path):
    """Issue 18 item 5, as reported: --config naming a file that does not
    exist was ignored and the defaults used."""
    missing = tmp_path / "nonexistent.conf"
    r = cloudseal({"HOME": str(tmp_path)}, "--config", missing, "status")
    assert r.returncode == 2, r.stderr
    assert (f"cloudseal: the configuration file {missing} does not exist: fix --config or $CLOUDSEAL_CONFIG "
            "(without them /etc/cloudseal/cloudseal.conf is used)") in r.stderr, r.stderr
