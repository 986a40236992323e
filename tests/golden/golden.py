# SPDX-License-Identifier: MIT
"""Reading the golden fixtures (tests/golden/v1/) with a build: the one
definition of "what today's code prints", shared by make-fixtures.py (which
records it in v1/expected/) and tests/integration/golden/test_golden.py
(which compares the current build's reading with it).

Every reading runs on a copy of the fixtures in a scratch directory (read-only
commands may still take locks, refresh caches or raise a pin); the only
normalisation is that scratch directory's path, replaced by "@WORK@".
"""
import hashlib
import json
import os
import pathlib
import re
import shutil
import stat
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("O", "build")
TEST_NSS = BUILD / "tests" / "fleet" / "libnss_cloudseal.so.2"
FLEET_TOOL = BUILD / "tests" / "fleet" / "fleet-tool"
GOLDEN_TOOL = BUILD / "tests" / "golden" / "golden-tool"

# Test secrets of the fixtures only (v1/README.md says so).
PASSWORD = "golden fixture password"
RECOVERY_RE = re.compile(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4}){13})\b")
USER = "golden"
# The signed directory must not expire while the fixtures are in use.
VALIDITY = "36500d"

# What the generator copies from its work directory into v1/.
FIXTURE_PARTS = ("storage", "state", "archive-state", "Maildir", "backup-cache",
                 "fleet.pub", "fleet.key", "escrow.pub", "escrow.key", "directory.json", "directory.cache",
                 "directory.state", "local-passwd", "local-group", "filecache-stats",
                 "agent-state.json")
MANIFEST = "MANIFEST.sha256"
# git keeps no modes but the executable bit: the ones the code wrote (a state
# directory 0700, a cache 0644) are recorded here and put back on each copy
MODES = "MODES"
EXPECTED = "expected"
NOT_FIXTURES = (MANIFEST, MODES, EXPECTED, "README.md")


class Env:
    """A config, an identity and runners for one directory holding the parts.

    work: where the parts are; cwd: the admin's working directory; check:
    whether a command that fails raises (the generator) or is recorded as a
    reading like any other (the readings: a failure is a difference)."""

    def __init__(self, work, cwd=None, check=False):
        self.check = check
        self.work = pathlib.Path(work)
        self.cwd = pathlib.Path(cwd or work)
        self.config = self.work / "cloudseal.conf"

    def write_config(self, archive_maildir=None, archive_state=None):
        w = self.work
        # the caller's uid is "golden" for every process (nss_wrapper), so
        # the fixtures read the same whoever runs them
        (w / "passwd").write_text(f"{USER}:x:{os.getuid()}:{os.getgid()}:Golden:{w}/home:/bin/sh\n")
        (w / "group").write_text(f"{USER}:x:{os.getgid()}:\n")
        # the fleet's "local accounts" (collision checks): fixed, a fixture part
        if not (w / "local-passwd").exists():
            (w / "local-passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                            "localuser:x:1000777:1000777::/home/localuser:/bin/sh\n")
            (w / "local-group").write_text("root:x:0:\nlocalgrp:x:1000778:\n")
        (w / "home").mkdir(exist_ok=True)
        sections = {
            "storage": {"url": f"file://{w}/storage"},
            "paths": {"state_dir": f"{w}/state", "helper": str(BUILD / "cloudseal-helper")},
            "kdf": {"target_time_ms": "1", "memory": "8M"},
            "backup": {"exclude": "", "cache_dir": f"{w}/backup-cache"},
            "archive": {"maildir": str(archive_maildir or w / "Maildir"),
                        "state_dir": str(archive_state or w / "archive-state")},
            "fleet": {"public_key_file": f"{w}/fleet.pub", "cache": f"{w}/directory.cache",
                      "state": f"{w}/directory.state", "local_passwd": f"{w}/local-passwd",
                      "local_group": f"{w}/local-group", "id_min": "1000000", "id_max": "1999999",
                      "source": f"{w}/directory.json", "secret_key_file": f"{w}/fleet.key"},
        }
        with open(self.config, "w") as f:
            for sec, kv in sections.items():
                f.write(f"[{sec}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()))

    def env(self):
        w = self.work
        return dict(os.environ, CLOUDSEAL_CONFIG=str(self.config), HOME=str(w / "home"),
                    XDG_CACHE_HOME=str(w / "xdg-cache"), LD_PRELOAD="libnss_wrapper.so",
                    NSS_WRAPPER_PASSWD=str(w / "passwd"), NSS_WRAPPER_GROUP=str(w / "group"),
                    LC_ALL="C", TZ="UTC")

    def run(self, argv, stdin=None, check=None, env=None):
        r = subprocess.run([str(a) for a in argv], input=stdin, env=env or self.env(),
                           capture_output=True, text=True, timeout=300, cwd=self.cwd,
                           errors="surrogateescape")
        if (self.check if check is None else check) and r.returncode != 0:
            raise AssertionError(f"{argv} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def cs(self, *args, stdin=PASSWORD + "\n", check=None):
        return self.run([BUILD / "cloudseal", *args], stdin=stdin, check=check)

    def admin(self, *args, check=None):
        return self.cs("admin", *args, stdin=None, check=check)

    def helper(self, *args, check=None):
        return self.run([BUILD / "cloudseal-helper", "--config", self.config, *args], check=check)

    def tool(self, *args, stdin=None):
        """golden-tool: no nss_wrapper (it asks NSS nothing; an ASan build
        wants its runtime first)."""
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        return self.run([GOLDEN_TOOL, *args], stdin=stdin, env=dict(env, LC_ALL="C", TZ="UTC"), check=False)

    def getent(self, *args):
        w = self.work
        # no local accounts: only the fleet's, the same whoever runs it
        (w / "nss-empty").write_text("")
        env = dict(os.environ, LD_PRELOAD="libnss_wrapper.so",
                   NSS_WRAPPER_PASSWD=str(w / "nss-empty"), NSS_WRAPPER_GROUP=str(w / "nss-empty"),
                   NSS_WRAPPER_MODULE_SO_PATH=str(TEST_NSS),
                   NSS_WRAPPER_MODULE_FN_PREFIX="cloudseal",
                   CLOUDSEAL_NSS_CACHE=str(w / "directory.cache"))
        return self.run(["getent", *args], env=env, check=False)


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def fixture_files(root):
    root = pathlib.Path(root)
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0] in NOT_FIXTURES:
            continue
        if p.is_file() and not p.is_symlink():
            yield rel, p


def manifest_lines(root):
    return [f"{sha256(p)}  {rel}\n" for rel, p in fixture_files(root)]


def mode_lines(root):
    """MODE TYPE PATH: d (a directory, empty ones included) or f."""
    root = pathlib.Path(root)
    return [f"{stat.S_IMODE(p.lstat().st_mode):04o} {'d' if p.is_dir() else 'f'} {p.relative_to(root)}\n"
            for p in sorted(root.rglob("*"))
            if p.relative_to(root).parts[0] not in NOT_FIXTURES and not p.is_symlink()]


def write_manifest(root):
    (pathlib.Path(root) / MANIFEST).write_text("".join(manifest_lines(root)))
    (pathlib.Path(root) / MODES).write_text("".join(mode_lines(root)))


def apply_modes(src, dst):
    """Put back the modes, and the empty directories git does not keep
    (a Maildir's tmp/, a repository's locks/)."""
    for line in (pathlib.Path(src) / MODES).read_text().splitlines():
        mode, kind, rel = line.split(" ", 2)
        path = pathlib.Path(dst) / rel
        if kind == "d":
            path.mkdir(parents=True, exist_ok=True)
        if path.exists():   # not the secrets
            os.chmod(path, int(mode, 8))


def size(root):
    return sum(p.stat().st_size for p in pathlib.Path(root).rglob("*") if p.is_file())


def tree_digest(root):
    """path mode size sha256 mtime_ns -> target, one line per entry: what a
    restore wrote, sorted, root excluded."""
    root = pathlib.Path(root)
    lines = []
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        rel = p.relative_to(root)
        kind = stat.S_IFMT(st.st_mode)
        line = f"{rel} {stat.filemode(st.st_mode)} {oct(stat.S_IMODE(st.st_mode))}"
        if kind == stat.S_IFREG:
            line += f" size={st.st_size} sha256={sha256(p)} nlink={st.st_nlink}"
        elif kind == stat.S_IFLNK:
            line += f" -> {os.readlink(p)}"
        if kind != stat.S_IFLNK:
            line += f" mtime={st.st_mtime_ns}"
            try:
                for a in sorted(os.listxattr(p)):
                    line += f" xattr:{a}={os.getxattr(p, a).hex()}"
            except OSError:
                pass
        lines.append(line + "\n")
    return "".join(lines)


def maildir_digest(root):
    """folder/sub/name sha256 of every message file."""
    root = pathlib.Path(root)
    lines = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and len(rel.parts) >= 2 and rel.parts[-2] in ("cur", "new"):
            lines.append(f"{rel} size={p.stat().st_size} sha256={sha256(p)}\n")
    return "".join(lines)


def copy_fixtures(src, dst):
    """The parts of src copied into dst (which must not exist)."""
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(*NOT_FIXTURES, "secrets"))
    os.chmod(dst, 0o700)
    apply_modes(src, dst)


def result(r):
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"


def read_all(fixtures, scratch):
    """{name: text} of every reading of the fixtures, run in scratch."""
    scratch = pathlib.Path(scratch).resolve()
    if scratch.exists():
        shutil.rmtree(scratch)
    work = scratch / "w"
    copy_fixtures(fixtures, work)
    env = Env(work)
    env.write_config()
    out = {}
    try:
        read_repo(env, out)
        read_keybag(env, out)
        read_fleet(env, out)
        read_archive(env, scratch, out)
        rewrite(env, out, fixtures)
    finally:
        env.cs("lock", stdin=None, check=False)
    return {k: normalise(v, scratch) for k, v in out.items()}


def normalise(text, scratch):
    """Only what changes from run to run: the scratch path, a sync's duration."""
    text = text.replace(str(scratch), "@WORK@").replace(str(scratch).replace("/", "\\/"), "@WORK@")
    return re.sub(r"received in [0-9.]+ s\.", "received in @SECONDS@ s.", text)


def read_repo(env, out):
    r = env.cs("snapshots", "--json", "--password-stdin", check=False)
    out["snapshots.json"] = result(r)
    try:
        ids = [s["id"] for s in json.loads(r.stdout)]
    except (ValueError, TypeError, KeyError):
        ids = []   # snapshots.json differs already: say so, not a traceback
    out["snapshots.txt"] = result(env.cs("snapshots", "--password-stdin", check=False))
    out["stats.json"] = result(env.cs("stats", "--json", check=False))
    if len(ids) >= 2:   # the backups of the same tree tagged first and second
        out["diff.txt"] = result(env.cs("diff", *ids[:2], check=False))
        out["diff.json"] = result(env.cs("diff", "--json", *ids[:2], check=False))
    for n, sid in enumerate(ids, 1):
        out[f"ls-{n}.json"] = result(env.cs("ls", "--json", sid))
        out[f"ls-{n}-long.txt"] = result(env.cs("ls", "--long", sid))
        target = env.work / f"restore-{n}"
        out[f"restore-{n}.log"] = result(env.cs("restore", sid, "--target", target))
        out[f"restore-{n}.tree"] = tree_digest(target)
    out["check-read-data.txt"] = result(env.cs("check", "--read-data"))
    out["check-read-data.json"] = result(env.cs("check", "--read-data", "--json"))


def read_keybag(env, out):
    out["keybag-dump.txt"] = result(env.cs("keybag", "dump", stdin=None))
    out["keybag-dump.json"] = result(env.cs("keybag", "dump", "--json", stdin=None))
    out["keybag-dump-cache.json"] = result(env.cs("keybag", "dump", "--json", "--cache-only", stdin=None))


def read_fleet(env, out):
    w = env.work
    signed = w / "storage" / "fleet" / "directory"
    out["admin-verify.txt"] = result(env.admin("verify", signed, check=False))
    out["admin-show.txt"] = result(env.admin("show"))
    out["admin-show.json"] = result(env.admin("show", "--json"))
    out["admin-show-installed.json"] = result(env.admin("show", "--json", "--installed"))
    out["getent.txt"] = "".join(result(env.getent(*q)) for q in (
        ("passwd", "alice"), ("passwd", "1400001"), ("passwd", "carol"), ("passwd", "dave"),
        ("group", "devs"), ("group", "1400100"), ("group", "carol"), ("initgroups", "carol"),
        ("passwd", "nosuch"), ("passwd",), ("group",)))


def read_archive(env, scratch, out):
    out["archive-status.json"] = result(env.cs("archive", "status", "--json", stdin=None))
    # a new workstation: an empty Maildir receives everything from the segments
    fresh = Env(env.work)
    fresh.config = env.work / "fresh.conf"
    fresh.write_config(archive_maildir=env.work / "fresh-Maildir",
                       archive_state=env.work / "fresh-archive-state")
    out["archive-sync-fresh.txt"] = result(fresh.cs("archive", "sync", "--password-stdin"))
    out["archive-fresh.maildir"] = maildir_digest(env.work / "fresh-Maildir")


def secrets(fixtures):
    """The fixtures' test secrets: {"password": ..., "recovery": ..., "carol": {...}}."""
    out = {}
    for line in (pathlib.Path(fixtures) / "secrets").read_text().splitlines():
        key, value = line.split(" ", 1)
        out[key] = json.loads(value) if value.startswith("{") else value
    return out


def rewrite(env, out, fixtures):
    """The writing checks: golden-tool parses each fixture and encodes it
    again where the code is deterministic; every line must say "equal"."""
    w = env.work
    user = w / "storage" / "users" / USER
    pw = PASSWORD + "\n"
    out["rewrite-keybag.txt"] = result(env.tool("keybag", user / "keybag", stdin=pw))
    out["rewrite-fleet.txt"] = result(env.tool(
        "fleet", w / "storage" / "fleet" / "directory", w / "fleet.pub", w / "fleet.key",
        w / "directory.cache", w / "directory.json"))
    out["rewrite-archive-state.txt"] = result(env.tool("archive-state", w / "archive-state" / "state"))
    out["rewrite-agent-state.txt"] = result(env.tool("agent-state", w / "agent-state.json"))
    # the fixture's segments (a fresh workstation's sync adds its own first segment)
    fixture_log = pathlib.Path(fixtures) / "storage" / "users" / USER / "archive" / "log"
    segs = sorted(s for s in (user / "archive" / "log").glob("*/*")
                  if (fixture_log / s.parent.name / s.name).exists())
    out["rewrite-segments.txt"] = "".join(result(env.tool(
        "segment", user / "keybag", s.parent.name, str(int(s.name)), s, stdin=pw)) for s in segs)
    carol = w / "storage" / "users" / "carol"
    out["rewrite-fleet-user.txt"] = result(env.tool(
        "fleet-user", "carol", carol / "keybag", carol / "keybag-seal", carol / "escrow",
        w / "escrow.key", w / "storage" / "fleet" / "directory", w / "fleet.pub",
        stdin=secrets(fixtures)["carol"]["one_time_password"] + "\n"))
    out["rewrite-packs.txt"] = result(env.tool(
        "packs", f"file://{w}/storage", f"users/{USER}/backup/", user / "keybag", stdin=pw))
    # what read_repo restored of the second snapshot, cut and hashed again
    restored = sorted(p for p in (w / "restore-2").rglob("*") if p.is_file() and not p.is_symlink())
    out["rewrite-chunks.txt"] = result(env.tool(
        "chunks", f"file://{w}/storage", f"users/{USER}/backup/", user / "keybag", *restored, stdin=pw))
    out["rewrite-repo.txt"] = result(env.tool(
        "repo", f"file://{w}/storage", f"users/{USER}/backup/", user / "keybag",
        w / "backup-cache", w / "filecache-stats", stdin=pw))


def record_stats(tree, out):
    """What the file cache must find for each file of tree: the stat fields
    it keys on (golden-tool repo looks them up)."""
    lines = []
    for p in sorted(pathlib.Path(tree).rglob("*")):
        st = p.lstat()
        if stat.S_ISREG(st.st_mode):
            lines.append(f"{st.st_ino} {st.st_size} {st.st_mtime_ns // 10**9} {st.st_mtime_ns % 10**9} "
                         f"{st.st_ctime_ns // 10**9} {st.st_ctime_ns % 10**9} {p}\n")
    pathlib.Path(out).write_text("".join(lines), errors="surrogateescape")


def write_expected(fixtures, expected):
    d = pathlib.Path(fixtures) / EXPECTED
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    for name, text in sorted(expected.items()):
        (d / name).write_text(text, errors="surrogateescape")


def read_expected(fixtures):
    d = pathlib.Path(fixtures) / EXPECTED
    return {p.name: p.read_text(errors="surrogateescape") for p in sorted(d.iterdir())}
