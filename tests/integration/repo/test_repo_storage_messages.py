# SPDX-License-Identifier: MIT
"""Issue 18 item 7: storage errors name the storage's kind and the real
cause: a file:// directory that does not exist (a typo, a disk that is not
mounted) is named as such, and S3 without credentials says which settings
give them, instead of "not enrolled" or "Required key not available"."""
import os
import pathlib
import subprocess

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")
PASSWORD = "correct horse battery staple"


def cloudseal(path, tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CLOUDSEAL_CONFIG=str(path), HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.run([str(BUILD / "cloudseal"), *map(str, args)], env=env, input=PASSWORD + "\n",
                          capture_output=True, text=True, timeout=60)


def test_file_store_whose_directory_is_missing_says_so(tmp_path, cs_config, build_dir):
    path, write = cs_config
    store = tmp_path / "mnt" / "backup"
    write(storage={"url": f"file://{store}"})
    r = cloudseal(path, tmp_path, "snapshots")
    assert r.returncode == 4, r.stderr
    assert (f"cloudseal: the file:// storage directory {store} does not exist: check [storage] url, or mount "
            "the disk it is on; if you never enrolled, run 'cloudseal enroll'") in r.stderr, r.stderr
    # there but empty (a mount point without its disk): where it looked is named
    store.mkdir(parents=True)
    r = cloudseal(path, tmp_path, "snapshots")
    assert r.returncode == 4, r.stderr
    assert f"is not enrolled (no keybag in file://{store}); run 'cloudseal enroll' first" in r.stderr


def test_s3_without_credentials_says_which_settings_give_them(tmp_path, cs_config, build_dir, lock_at_end):
    path, write = cs_config
    url = "s3+http://127.0.0.1:9/bucket"
    write(storage={"url": url})
    r = cloudseal(path, tmp_path, "enroll", "--password-stdin")
    assert r.returncode == 6, r.stderr
    assert (f"cloudseal: enrollment failed: S3 storage {url}: no S3 credentials: set [storage] access_key and "
            "secret_key_file in cloudseal.conf (a secret_key_file you cannot read does not count), "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials "
            "(AWS_PROFILE)") in r.stderr, r.stderr
    assert "Required key not available" not in r.stderr
    # enrolled on a file:// store, then pointed at S3 without credentials
    lock_at_end({"CLOUDSEAL_CONFIG": str(path), "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    write(storage={"url": f"file://{tmp_path}/storage"})
    assert cloudseal(path, tmp_path, "enroll", "--password-stdin").returncode == 0
    write(storage={"url": url})
    r = cloudseal(path, tmp_path, "snapshots", "--password-stdin")
    assert r.returncode == 6, r.stderr
    assert f"cloudseal: cannot open the storage: S3 storage {url}: no S3 credentials: set" in r.stderr, r.stderr


def test_storage_test_of_a_missing_directory_is_no_empty_store(tmp_path, cs_config, build_dir):
    """'storage test file:///missing' said "OK (reachable, credentials
    accepted, empty)", and a failure there got S3's advice."""
    path, _ = cs_config
    missing = tmp_path / "mnt" / "usb"
    r = cloudseal(path, tmp_path, "storage", "test", f"file://{missing}")
    assert r.returncode == 4, r.stdout + r.stderr
    assert (f"cloudseal: the file:// storage directory {missing} does not exist: check [storage] url, "
            "or mount the disk it is on") in r.stderr, r.stderr
    afile = tmp_path / "afile"
    afile.write_text("")
    r = cloudseal(path, tmp_path, "storage", "test", "--write", f"file://{afile}")
    assert r.returncode == 1 and "access key" not in r.stderr, r.stderr
    assert f"cloudseal: the file:// storage {afile} is not a directory: check [storage] url" in r.stderr
    missing.mkdir(parents=True)
    r = cloudseal(path, tmp_path, "storage", "test", f"file://{missing}")
    assert r.returncode == 0 and "OK (a readable directory, empty)" in r.stdout, r.stdout + r.stderr
