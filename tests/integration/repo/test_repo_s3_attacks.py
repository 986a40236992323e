# SPDX-License-Identifier: MIT
"""The hostile store again, on S3 (s3rver): restore from remote storage
runs 8 workers and cuts large files into segments that different workers
write at their offsets; a pack swapped for another or cut short must still
leave no file that is partly wrong.  Uses the S3 part's s3rver fixture."""
import hashlib
import json
import os
import pathlib
import subprocess

S3_DIR = pathlib.Path(__file__).resolve().parents[1] / "s3"
import s3_helpers as _s3  # noqa: E402  (the servers are fixtures of tests/integration/conftest.py)


def digests(root):
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for n in files:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_swapped_and_truncated_packs_on_s3(s3rver, s3rver_bucket, cs_config, tmp_path, lock_at_end):
    path, write = cs_config
    bucket = f"{s3rver.base}/cs-test-bucket"
    prefix = f"attacks-{os.getpid()}"
    write(storage={"url": f"{bucket}/{prefix}"}, backup={"exclude": ""})
    env = s3rver.env(CLOUDSEAL_CONFIG=str(path), HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    lock_at_end(env)
    cs = str(_s3.BUILD / "cloudseal")

    def run(*args, check=True):
        subprocess.run(["rm", "-rf", str(tmp_path / "cache")], check=True)  # a new workstation
        r = subprocess.run([cs, *map(str, args)], input="pw\n", env=env, capture_output=True, text=True,
                           timeout=300)
        assert not check or r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stderr}"
        return r

    def packs():
        out = s3rver.ok(bucket, "list", prefix).stdout.decode().split()
        return {k: int(s3rver.ok(bucket, "stat", k).stdout.split()[0]) for k in out if "/backup/data/" in k}

    def get(k):
        return s3rver.ok(bucket, "get", k).stdout

    def put(k, data):
        s3rver.ok(bucket, "put", k, input=data)

    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(10 << 20))  # > 4 blobs: restored in segments
    (src / "small.txt").write_text("small\n")
    run("enroll", "--password-stdin")
    run("init")
    run("backup", src)
    v1, p1 = digests(src), packs()
    with open(src / "big.bin", "r+b") as f:
        f.seek(5 << 20)
        f.write(os.urandom(4 << 20))
    run("backup", src)
    v2, p2 = digests(src), packs()
    new = max((k for k in p2 if k not in p1), key=p2.get)
    old = max(p1, key=p1.get)
    snaps = [s["id"] for s in json.loads(run("snapshots", "--json").stdout)]

    def restore(expected, snap):
        out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
        r = run("restore", snap, "--target", out, check=False)
        got = digests(out / str(src).lstrip("/")) if (out / str(src).lstrip("/")).exists() else {}
        for k, v in got.items():
            assert expected[k] == v, f"restore wrote wrong bytes to {k}: {r.stderr}"
        return r, got

    # the newest data pack swapped with the oldest one
    a, b = get(old), get(new)
    put(old, b)
    put(new, a)
    r, got = restore(v2, "latest")
    assert r.returncode == 5 and "big.bin" not in got, r.stderr
    put(old, a)
    put(new, b)
    r, got = restore(v2, "latest")
    assert r.returncode == 0 and got == v2, r.stderr
    # the first backup's big pack cut in the middle
    put(old, a[: len(a) // 2])
    assert len(snaps) == 2, snaps
    r, got = restore(v1, snaps[0])
    assert r.returncode == 5 and "big.bin" not in got, r.stderr
    r = run("check", check=False)
    assert r.returncode == 5 and old.rsplit("/", 1)[1] in r.stderr, r.stderr
