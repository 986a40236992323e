# SPDX-License-Identifier: MIT
"""cloudseal mount with the real kernel FUSE: the mounted snapshot against
the source tree (contents, modes, owners, ns times, xattrs, hardlinks,
symlinks, devices, fifos, odd names), cp -a out of the mount against
restore, random-offset reads by several threads and processes, a backup
while mounted showing up without a remount, and clean unmounts by
fusermount3 -u, SIGINT and SIGTERM (under load too).  The mount is waited
for through /proc/self/mountinfo, which poll() reports changes of."""
import importlib.util
import json
import os
import pathlib
import random
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.request

import pytest

_spec = importlib.util.spec_from_file_location("repo_cli_tree", pathlib.Path(__file__).with_name("test_repo_cli.py"))
_tree = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tree)
make_tree, assert_same_tree, manifest = _tree.make_tree, _tree.assert_same_tree, _tree.manifest
import s3_helpers as _s3  # noqa: E402  (the servers are fixtures of tests/integration/conftest.py)
from s3_helpers import stop  # noqa: E402  (path set by tests/integration/conftest.py)
import uids  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"),
                                reason="FUSE: /dev/fuse or fusermount3 (package fuse3) is missing")


def mounted(mnt):
    want = os.fsencode(str(mnt))
    with open("/proc/self/mountinfo", "rb") as f:
        return any(line.split()[4] == want for line in f)


def wait_mount(mnt, proc, present=True, timeout=60):
    """Wait until mnt is (or is no longer) a mount point: poll() on
    mountinfo wakes on every mount table change; the timeout only bounds
    a failure."""
    with open("/proc/self/mountinfo", "rb") as f:
        p = select.poll()
        p.register(f, select.POLLPRI | select.POLLERR)
        for _ in range(timeout):
            if mounted(mnt) == present:
                return
            if present and proc.poll() is not None:
                raise AssertionError(f"cloudseal mount exited {proc.returncode}: {proc.stderr.read()}")
            p.poll(1000)
            f.seek(0)
            f.read()
    raise AssertionError(f"{mnt} {'never mounted' if present else 'still mounted'}")


class Mount:
    def __init__(self, repo, mnt, *args):
        self.mnt = mnt
        mnt.mkdir(exist_ok=True)
        self.proc = repo.popen("mount", "--refresh-interval", "0", *args, mnt)
        wait_mount(mnt, self.proc)

    def stop(self, how="fusermount"):
        if how == "fusermount":
            subprocess.run(["fusermount3", "-u", str(self.mnt)], check=True, timeout=60)
        else:
            self.proc.send_signal(how)
        rc = self.proc.wait(timeout=60)
        wait_mount(self.mnt, self.proc, present=False)
        return rc

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)
        if mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], timeout=60)


@pytest.fixture
def mount(repo, tmp_path):
    made = []

    def start(*args, name="mnt"):
        m = Mount(repo, tmp_path / name, *args)
        made.append(m)
        return m
    yield start
    for m in made:
        m.cleanup()


def big_file(path, size, seed=3):
    path.write_bytes(random.Random(seed).randbytes(size))


def test_mounted_snapshot_equals_source_and_restore(repo, tmp_path, mount):
    src = tmp_path / "src"
    make_tree(src)
    deep = src / "deep"
    for i in range(40):
        deep = deep / f"level{i:02d}"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("down here")
    repo.run("backup", src, "--tag", "t1")
    snap = json.loads(repo.run("snapshots", "--json").stdout)[0]
    m = mount()
    top = m.mnt
    assert sorted(os.listdir(top)) == ["hosts", "ids", "snapshots", "tags"]
    names = sorted(os.listdir(top / "snapshots"))
    assert len(names) == 2 and "latest" in names
    name = next(n for n in names if n != "latest")
    assert os.readlink(top / "snapshots" / "latest") == name
    assert os.listdir(top / "ids") == [snap["short_id"]]
    assert os.listdir(top / "tags") == ["t1"]
    assert sorted(os.listdir(top / "tags" / "t1")) == sorted([name, "latest"])
    assert os.listdir(top / "hosts") == [snap["host"]]

    inside = top / "snapshots" / name / str(src).lstrip("/")
    assert_same_tree(src, inside)
    assert_same_tree(src, top / "ids" / snap["short_id"] / str(src).lstrip("/"))
    st = os.stat(inside / "hardlink")
    assert st.st_ino == os.stat(inside / "docs" / "note2.txt").st_ino and st.st_nlink == 2
    assert os.stat(inside / "docs").st_ino != os.stat(inside / "media").st_ino
    # a sparse file reports its holes (to chunk precision), a dense one none
    fd = os.open(inside / "sparse.img", os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        assert os.lseek(fd, 0, os.SEEK_HOLE) == 0
        data_at = os.lseek(fd, 0, os.SEEK_DATA)
        assert 0 < data_at <= size - 3
        assert os.lseek(fd, data_at, os.SEEK_HOLE) == size
        os.lseek(fd, 0, os.SEEK_SET)
        assert os.read(fd, size) == (src / "sparse.img").read_bytes()
        with pytest.raises(OSError):
            os.lseek(fd, size, os.SEEK_DATA)
    finally:
        os.close(fd)
    with open(inside / "media" / "photo.jpg", "rb") as f:
        assert os.lseek(f.fileno(), 0, os.SEEK_DATA) == 0
        assert os.lseek(f.fileno(), 0, os.SEEK_HOLE) == 3 << 20
    # cp -a out of the mount equals a restore
    subprocess.run(["cp", "-a", str(inside), str(tmp_path / "copied")], check=True, timeout=120)
    repo.run("restore", "latest", "--target", tmp_path / "restored")
    assert_same_tree(tmp_path / "restored" / str(src).lstrip("/"), tmp_path / "copied")
    # read-only, and what is not there
    with pytest.raises(OSError):
        open(inside / "docs" / "note1.txt", "w")
    assert not os.path.exists(top / "snapshots" / "1999-01-01T00:00:00")
    assert not os.path.exists(top / "nosuch")
    assert m.stop() == 0


def test_random_reads_by_threads_and_processes(repo, tmp_path, mount):
    src = tmp_path / "src"
    src.mkdir()
    big_file(src / "big.bin", 40 << 20)
    repo.run("backup", src)
    m = mount()
    data = (src / "big.bin").read_bytes()
    path = m.mnt / "snapshots" / "latest" / str(src).lstrip("/") / "big.bin"
    errors = []

    def reader(seed):
        rnd = random.Random(seed)
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                for _ in range(60):
                    off = rnd.randrange(len(data))
                    n = rnd.choice((1, 4096, 100_000, 3 << 20))
                    assert os.pread(fd, n, off) == data[off:off + n], (seed, off, n)
            finally:
                os.close(fd)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    procs = [subprocess.Popen(["cmp", str(src / "big.bin"), str(path)]) for _ in range(3)]
    threads = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    assert not errors, errors
    assert os.path.getsize(path) == len(data)
    assert m.stop(signal.SIGINT) == 0


def test_backup_while_mounted_appears_without_remount(repo, tmp_path, mount):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("first")
    repo.run("backup", src)
    m = mount()
    first = os.readlink(m.mnt / "snapshots" / "latest")
    rel = str(src).lstrip("/")
    # a reader keeps a file open across the backup
    with open(m.mnt / "snapshots" / first / rel / "a.txt", "rb") as f:
        (src / "a.txt").write_text("second")
        (src / "b.txt").write_text("new file")
        repo.run("backup", src)
        assert f.read() == b"first"
    snaps = json.loads(repo.run("snapshots", "--json").stdout)
    names = [n for n in os.listdir(m.mnt / "snapshots") if n != "latest"]
    assert len(names) == 2
    second = os.readlink(m.mnt / "snapshots" / "latest")
    assert second != first
    assert (m.mnt / "snapshots" / second / rel / "b.txt").read_text() == "new file"
    assert (m.mnt / "snapshots" / first / rel / "a.txt").read_text() == "first"
    assert snaps[1]["short_id"] in os.listdir(m.mnt / "ids")
    # the mount's shared lock keeps prune, which deletes packs, out
    r = repo.run("prune", check=False)
    assert r.returncode != 0 and "locked (shared)" in r.stderr, r.stderr
    assert m.stop(signal.SIGTERM) == 0
    repo.run("prune")


def test_sigterm_under_load_leaves_nothing_stuck(repo, tmp_path, mount):
    src = tmp_path / "src"
    src.mkdir()
    big_file(src / "big.bin", 24 << 20)
    repo.run("backup", src)
    m = mount()
    path = m.mnt / "snapshots" / "latest" / str(src).lstrip("/") / "big.bin"
    readers = [subprocess.Popen(["sh", "-c", 'while cat "$1" >/dev/null; do :; done', "sh", str(path)],
                                stderr=subprocess.DEVNULL) for _ in range(3)]
    # the readers are inside the file system once the mount's file is open
    with open(path, "rb") as f:
        f.read(1)
    assert m.stop(signal.SIGTERM) == 0
    for r in readers:
        r.wait(timeout=60)  # their reads fail once it is gone; none hangs
    assert not mounted(m.mnt)


def test_mount_usage_and_messages(repo, tmp_path):
    assert repo.run("mount", check=False).returncode == 2
    assert repo.run("mount", "--refresh-interval", "x", tmp_path, check=False).returncode == 2
    r = repo.run("mount", tmp_path / "nosuch", check=False)
    assert r.returncode != 0 and "cannot mount" in r.stderr


@pytest.fixture
def faulty_s3(s3rver, s3rver_bucket):
    port, proc = _s3.start_fault_proxy(s3rver.port, "--seed", "7", "--error", "0.03", "--reset", "0",
                                       "--truncate", "0", "--latency", "5")
    try:
        yield port, s3rver
    finally:
        stop(proc)


def test_mount_find_dump_on_s3_through_faults(faulty_s3, cs_config, tmp_path, lock_at_end):
    port, s3 = faulty_s3
    path, write = cs_config
    url = f"127.0.0.1:{{}}/cs-test-bucket/mount-{os.getpid()}"
    # written straight to s3rver, read through the proxy's 503s (retried)
    write(storage={"url": "s3+http://" + url.format(s3.port)}, backup={"exclude": ""})
    (tmp_path / "home").mkdir()
    repo = _tree_repo(tmp_path, path)
    repo.env = s3.env(**{k: repo.env[k] for k in ("CLOUDSEAL_CONFIG", "HOME", "XDG_CACHE_HOME")})
    lock_at_end(repo.env)
    repo.run("enroll", "--password-stdin")
    repo.run("init")
    src = tmp_path / "src"
    make_tree(src, big=False)
    big_file(src / "big.bin", 12 << 20)
    repo.run("backup", src)
    rel = str(src).lstrip("/")
    write(storage={"url": "s3+http://" + url.format(port)}, backup={"exclude": ""})

    m = Mount(repo, tmp_path / "mnt")
    try:
        inside = m.mnt / "snapshots" / "latest" / rel
        assert_same_tree(src, inside)
        data = (src / "big.bin").read_bytes()
        rnd = random.Random(5)
        with open(inside / "big.bin", "rb") as f:
            for _ in range(20):
                off = rnd.randrange(len(data))
                f.seek(off)
                assert f.read(70_000) == data[off:off + 70_000], off
        assert m.stop() == 0
    finally:
        m.cleanup()
    hits = json.loads(repo.run("find", "--json", "note2.*").stdout)
    assert [h["path"] for h in hits[0]["matches"]] == [f"{src}/docs/note2.txt"]
    r = subprocess.run([str(_s3.BUILD / "cloudseal"), "dump", "latest", f"{src}/big.bin"], env=repo.env,
                       capture_output=True, timeout=300, input=b"")
    assert r.returncode == 0 and r.stdout == data, r.stderr
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__proxy_stats", timeout=30) as resp:
        assert json.load(resp)["errors"] > 0, "the proxy injected no fault"


def _tree_repo(tmp_path, config):
    """The repo conftest's Repo on another storage (its fixture is file://)."""
    spec = importlib.util.spec_from_file_location("repo_conftest_for_mount", pathlib.Path(__file__).with_name("conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Repo(tmp_path, config)


USER_SCRIPT = r'''
set -eu
D=$1 CS=$2 ID=$3
# Debian's udev makes /dev/fuse 0666 (this machine has no udev: 0600); the
# same node, as Debian has it, in this private mount namespace only
mknod "$D/fuse" c 10 229 && chmod 666 "$D/fuse" && mount --bind "$D/fuse" /dev/fuse
# the user: this run's uid (its keyring is per uid machine-wide), named in
# this namespace's passwd only
{ cat /etc/passwd; echo "csmount:x:$ID:$ID::$D/home:/bin/sh"; } > "$D/passwd"
{ cat /etc/group; echo "csmount:x:$ID:"; } > "$D/group"
mount --bind "$D/passwd" /etc/passwd && mount --bind "$D/group" /etc/group
U() { setpriv --reuid=$ID --regid=$ID --clear-groups env -i PATH=/usr/bin:/bin HOME="$D/home" \
        CLOUDSEAL_CONFIG="$D/cs.conf" XDG_CACHE_HOME="$D/home/.cache" "$@"; }
trap 'U keyctl clear @u >/dev/null 2>&1 || true' EXIT
echo pw | U "$CS" enroll --password-stdin >/dev/null
echo pw | U "$CS" init >/dev/null
echo pw | U "$CS" backup "$D/src" >/dev/null
mkfifo "$D/log"
U "$CS" mount "$D/mnt" <<<pw 2>"$D/log" & P=$!
# its log line comes once it is mounted (EOF: it died)
exec 3<"$D/log"
while read -r line <&3; do echo "$line" >&2; case $line in *"mounted on"*) break ;; esac; done
cat <&3 >&2 &
grep " $D/mnt fuse.cloudseal " /proc/self/mounts
U cat "$D/mnt/snapshots/latest$D/src/f"
U stat -c '%U %a' "$D/mnt/snapshots/latest$D/src/f"
U fusermount3 -u "$D/mnt"
wait $P
'''


def test_mount_as_an_unprivileged_user(tmp_path):
    """A user mounts with fusermount3 from Debian's fuse3 and /dev/fuse as
    Debian's udev leaves it (0666), in a private namespace.  Not nobody:
    the user's keyring (enroll stores the key, the end clears it) is per uid
    machine-wide, so this run's uid (uids.py)."""
    uid = uids.local(8)
    d = pathlib.Path(tempfile.mkdtemp(prefix="cs-mount-user."))  # tmp_path is root's, 0700
    try:
        d.chmod(0o755)
        for sub in ("home", "src", "mnt", "storage", "state"):
            (d / sub).mkdir()
        (d / "src" / "f").write_text("hello\n")
        (d / "cs.conf").write_text(f"[storage]\nurl = file://{d}/storage\n[paths]\nstate_dir = {d}/state\n"
                                   "[kdf]\ntarget_time_ms = 1\nmemory = 8M\n[backup]\nexclude =\n")
        for p in [d / s for s in ("home", "src", "mnt", "storage", "state")] + [d / "src" / "f"]:
            os.chown(p, uid, uid)
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", USER_SCRIPT, "sh", str(d),
                            str(_s3.BUILD / "cloudseal"), str(uid)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "hello\ncsmount 644\n" in r.stdout, r.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)
