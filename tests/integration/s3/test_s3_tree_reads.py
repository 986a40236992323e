# SPDX-License-Identifier: MIT
"""The tree walk of check and prune on S3 (issue 23): the trees of a
depth are read pack by pack in runs of neighbouring blobs, several packs at
once, not with one ranged GET each (16 753 GETs, one after the other, for a
million files).  A repository of 2 400 files in 241 directories: check and
prune each read the trees with a few GETs of data/, counted by
fault_proxy.py (a counting proxy: no faults, no latency), against the
s3_server fixture's servers."""
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import BUILD, proxy_log, start_plain_proxy, stop  # noqa: E402

TOP, SUB, FILES = 20, 12, 10  # 1 + 20 + 240 directories, 2 400 files


@pytest.fixture
def counting_s3(s3_server, request):
    request.getfixturevalue(f"{s3_server.name}_bucket")  # cs-test-bucket
    port, proc = start_plain_proxy(s3_server.port)
    try:
        yield port, s3_server
    finally:
        stop(proc)


def test_check_and_prune_read_trees_by_pack(counting_s3, cs_config, tmp_path, lock_at_end):
    port, s3 = counting_s3
    path, write = cs_config
    write(storage={"url": f"s3+http://127.0.0.1:{port}/cs-test-bucket/trees-{os.getpid()}-{s3.name}"},
          backup={"exclude": ""})
    env = s3.env(CLOUDSEAL_CONFIG=str(path), HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    lock_at_end(env)
    src = tmp_path / "src"
    for t in range(TOP):
        for s in range(SUB):
            d = src / "d" / f"t{t:02}" / f"s{s:02}"
            d.mkdir(parents=True)
            for f in range(FILES):
                (d / f"f{f}").write_bytes(b"%d/%d/%d\n" % (t, s, f))

    def run(*args):
        # a relative path: the tree holds no ancestor (/tmp changes all the time)
        r = subprocess.run([str(BUILD / "cloudseal"), *map(str, args)], input="pw\n", env=env,
                           capture_output=True, text=True, timeout=300, cwd=src)
        assert r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def data_gets(*args):
        seen = len(proxy_log(port))
        run(*args)
        reqs = proxy_log(port)[seen:]
        return [q["path"] for q in reqs if q["method"] == "GET" and "/data/" in q["path"]]

    run("enroll", "--password-stdin")
    run("init")
    run("backup", "d")
    trees = 1 + 1 + TOP + TOP * SUB  # the root, d, its directories
    for verb in ("check", "prune"):
        gets = data_gets(verb)
        print(f"{verb}: {len(gets)} GETs of data/ for {trees} trees")
        assert len(gets) <= 10, "\n".join(gets)
