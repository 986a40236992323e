# SPDX-License-Identifier: MIT
"""A remote restore's memory is bounded (issue 23, docs/performance.md
"Restore from remote storage: the memory bound"): however many workers the
round trips call for, the buffers they hold share one budget of 64 MiB, so
the CLI's peak RSS stays under the budget plus what any restore holds
(libraries, the index, the tree walk), and every byte comes back.  Through
fault_proxy.py with latency only, so that the workers grow to their most
(8 on a 2-core machine), in front of s3rver.  Before the budget bounded
them: 105-123 MiB here (ranges kept outside the budget, freed blob buffers
kept by the threads' malloc arenas); after: 66-75 MiB."""
import hashlib
import os
import pathlib
import random
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import BUILD, proxy_stats, start_plain_proxy, stop  # noqa: E402

BUDGET_MIB = 64     # REMOTE_BUDGET in lib/repo/restore.c
BASE_MIB = 22       # a restore's RSS besides the workers' buffers (libraries, index, trees, curl)
LATENCY_MS = 150


def make_tree(root):
    """Blobs that decompress to far more than their range: 24 files of
    16 MiB, each a random 4 KiB block repeated (no chunk boundary in it:
    8 MiB chunks, a few KiB stored), and 48 incompressible files of 3 MiB
    (~1 MiB chunks) between them."""
    rng = random.Random(9)
    for i in range(24):
        d = root / f"d{i % 6}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"rep{i}.img").write_bytes(rng.randbytes(4096) * (4 << 10))
        for k in range(2):
            (d / f"big{i}-{k}.bin").write_bytes(rng.randbytes(3 << 20))


def digests(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# Runs a command in a child forked from this small interpreter and prints
# the child's peak RSS.  Not os.wait4 on a child of pytest: the kernel
# starts an exec'd child's maximum RSS at that of the image it was forked
# (or vforked) from, here the whole pytest process.
PEAK_WRAPPER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
sys.stderr.write(f"\\nPEAK_RSS_KIB {ru.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss_mib(args, env):
    """Run args; (returncode, stderr, its peak RSS in MiB)."""
    r = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *args], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600)
    err, _, last = r.stderr.rstrip().rpartition("\n")
    assert last.startswith("PEAK_RSS_KIB "), r.stderr
    return r.returncode, err, int(last.split()[1]) / 1024


def test_remote_restore_peak_rss_stays_under_the_budget(s3rver, s3rver_bucket, cs_config, tmp_path):
    path, write = cs_config
    prefix = f"cs-test-bucket/restore-memory-{os.getpid()}"
    port, proxy = start_plain_proxy(s3rver.port, LATENCY_MS)
    env = s3rver.env(CLOUDSEAL_CONFIG=str(path), HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    cs = str(BUILD / "cloudseal")

    def run(*args):
        r = subprocess.run([cs, *map(str, args)], input="pw\n", env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"cloudseal {args} exited {r.returncode}\n{r.stdout}\n{r.stderr}"

    src = tmp_path / "src"
    make_tree(src)
    try:
        write(storage={"url": f"{s3rver.base}/{prefix}"}, backup={"exclude": ""})
        run("enroll", "--password-stdin")
        run("init")
        run("backup", src)
        write(storage={"url": f"s3+http://127.0.0.1:{port}/{prefix}"})
        rc, err, peak = peak_rss_mib([cs, "restore", "latest", "--target", str(tmp_path / "out")], env)
        stats = proxy_stats(type("P", (), {"port": port}))
    finally:
        subprocess.run([cs, "lock"], env=env, capture_output=True, timeout=60)
        stop(proxy)
    assert rc == 0, err
    assert digests(tmp_path / "out" / str(src).lstrip("/")) == digests(src)
    # ranges were fetched in parallel (cores + 1 workers at first, more as
    # the round trips call for them; not counted exactly: the load decides)
    assert stats["max_in_flight_GET"] >= 3, stats
    assert peak < BUDGET_MIB + BASE_MIB, f"peak RSS {peak:.1f} MiB, bound {BUDGET_MIB + BASE_MIB} MiB"
