# SPDX-License-Identifier: MIT
"""Issue 18 item 13, selection: --files-from, --exclude-caches,
--exclude-if-present, backup --dry-run --verbose, and the --tag/--host/--path
filters of snapshots, forget, restore, ls and diff."""
import json

CACHEDIR_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n"


def snapshots(repo, *args):
    return json.loads(repo.run("snapshots", "--json", *args).stdout)


def tree(repo):
    home = repo.tmp / "home"
    for d in ("docs", "cache", "fake-cache", "build", "music"):
        (home / d).mkdir()
        (home / d / "f.txt").write_text(d + "\n")
    (home / "cache" / "CACHEDIR.TAG").write_text(CACHEDIR_TAG)
    (home / "fake-cache" / "CACHEDIR.TAG").write_text("not the signature\n")
    (home / "build" / ".nobackup").write_text("")
    return home


def test_exclude_caches_if_present_and_dry_run(repo):
    home = tree(repo)
    r = repo.run("backup", "--dry-run", "--verbose", "--exclude-caches", "--exclude-if-present", ".nobackup", home)
    assert f"would save {home}/docs/f.txt\n" in r.stdout and f"would save {home}/fake-cache/f.txt\n" in r.stdout
    assert f"would save {home}/docs/\n" in r.stdout
    assert f"{home}/cache/" not in r.stdout and f"{home}/build/" not in r.stdout, r.stdout
    assert r.stdout.endswith("would back up 4 files (40 B), 4 directories, 0 others "
                             "(dry run: nothing was read or stored)\n"), r.stdout
    assert snapshots(repo) == []
    repo.run("backup", "--exclude-caches", "--exclude-if-present", ".nobackup", home)
    ls = repo.run("ls", "latest").stdout.splitlines()
    assert f"{home}/fake-cache/f.txt" in ls and f"{home}/music/f.txt" in ls
    assert not [l for l in ls if l.startswith((f"{home}/cache", f"{home}/build"))], ls


def test_files_from(repo):
    home = tree(repo)
    lst = repo.tmp / "list"
    lst.write_text(f"# what to save\n{home}/docs\n\n{home}/music\n")
    repo.run("backup", "--files-from", lst)
    assert snapshots(repo)[-1]["paths"] == [f"{home}/docs", f"{home}/music"]
    (repo.tmp / "empty").write_text("# nothing\n")
    r = repo.run("backup", "--files-from", repo.tmp / "empty", check=False)
    assert r.returncode == 2 and f"--files-from {repo.tmp}/empty names no path: no snapshot was saved" in r.stderr


def test_tag_host_path_filters(repo):
    home = tree(repo)
    docs, music = f"{home}/docs", f"{home}/music"
    repo.run("backup", "--tag", "work", "--host", "laptop", docs)
    repo.run("backup", "--tag", "work,fun", "--host", "desk", music)
    (home / "docs" / "f.txt").write_text("docs v2\n")
    repo.run("backup", "--host", "desk", docs)
    a, b, c = (s["short_id"] for s in snapshots(repo))
    assert [s["short_id"] for s in snapshots(repo, "--host", "desk")] == [b, c]
    assert [s["short_id"] for s in snapshots(repo, "--tag", "work")] == [a, b]
    assert [s["short_id"] for s in snapshots(repo, "--tag", "work,fun")] == [b]
    assert [s["short_id"] for s in snapshots(repo, "--path", docs + "/")] == [a, c]
    assert [s["short_id"] for s in snapshots(repo, "--host", "desk", "--path", docs)] == [c]

    # latest among the selected ones
    out = repo.tmp / "out"
    repo.run("restore", "latest", "--host", "laptop", "--target", out)
    assert (out / docs.lstrip("/") / "f.txt").read_text() == "docs\n"
    assert repo.run("ls", "latest", "--tag", "fun").stdout.splitlines()[-1] == f"{music}/f.txt"
    r = repo.run("diff", "latest", a, "--path", docs)  # latest docs snapshot (c) against a
    assert f"M    {docs}/f.txt" in r.stdout, r.stdout
    r = repo.run("ls", "latest", "--host", "nowhere", check=False)
    assert r.returncode == 4
    assert "no snapshot matches --tag/--host/--path: run 'cloudseal snapshots' to list them" in r.stderr

    # forget looks only at the selected snapshots
    r = repo.run("forget", "--keep-last", "1", "--host", "desk", "--group-by", "")
    assert f"  remove {b}" in r.stdout and a not in r.stdout
    assert [s["short_id"] for s in snapshots(repo)] == [a, c]
    r = repo.run("snapshots", "--path", "relative/path", check=False)
    assert r.returncode == 2
    assert "--path wants an absolute path as 'cloudseal snapshots' shows it, not 'relative/path'" in r.stderr
