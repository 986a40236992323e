# SPDX-License-Identifier: MIT
"""Issue 18: mistakes must be safe.  A backup of a path that does not exist
saves nothing, forget keeps each group's snapshots apart, restore never
overwrites a file that differs unless told to, and a restore pattern that
matches nothing is an error."""
import json
import os


def snapshots(repo):
    return json.loads(repo.run("snapshots", "--json").stdout)


def test_backup_of_missing_path_saves_no_snapshot(repo):
    src = repo.tmp / "home" / "docs"
    src.mkdir()
    (src / "a.txt").write_text("a")
    repo.run("backup", src)
    before = snapshots(repo)
    r = repo.run("backup", "/nonexistent/path", check=False)
    assert r.returncode == 1, r.stderr
    assert ("/nonexistent/path does not exist: no snapshot was saved; check the path, "
            "or mount the disk it is on") in r.stderr
    assert snapshots(repo) == before
    # one of several missing: left out with a warning, the snapshot is incomplete
    r = repo.run("backup", src, "/nonexistent/path", check=False)
    assert r.returncode == 7, r.stderr
    assert "/nonexistent/path does not exist: left out of this snapshot" in r.stderr
    assert snapshots(repo)[-1]["paths"] == [str(src)]


def test_forget_keeps_each_group_apart(repo):
    home = repo.tmp / "home"
    other = repo.tmp / "other"
    other.mkdir()
    for i in range(3):
        (home / "f").write_text(str(i))
        repo.run("backup", home)
    repo.run("backup", other)
    ids = [s["id"][:8] for s in snapshots(repo)]
    r = repo.run("forget", "--keep-last", "1", "--dry-run")
    assert f"snapshots of host {os.uname().nodename}, paths [{home}]:" in r.stdout
    assert f"  keep   {ids[2]}" in r.stdout and f"  keep   {ids[3]}" in r.stdout
    assert f"  would remove {ids[0]}" in r.stdout and f"  would remove {ids[1]}" in r.stdout
    # one group for all: only the newest of everything stays
    r = repo.run("forget", "--keep-last", "1", "--group-by", "", "--dry-run")
    assert f"  would remove {ids[2]}" in r.stdout and f"  keep   {ids[3]}" in r.stdout
    r = repo.run("forget", "--keep-last", "1", "--group-by", "hosts", check=False)
    assert r.returncode == 2
    assert "--group-by takes a comma-separated list of host, paths and tags (or ''), not 'hosts'" in r.stderr
    repo.run("forget", "--keep-last", "1")
    assert [s["id"][:8] for s in snapshots(repo)] == ids[2:]


def test_restore_never_overwrites_a_differing_file_unless_told(repo):
    home = repo.tmp / "home"
    docs = home / "docs"
    docs.mkdir()
    notes = docs / "notes.txt"
    notes.write_text("saved version\n")
    (docs / "same.txt").write_text("unchanged\n")
    repo.run("backup", home)
    notes.write_text("unsaved local edits, longer than before\n")
    (home / "extra.txt").write_text("not in the snapshot\n")
    spec = f"latest:{home}"

    r = repo.run("restore", spec, "--target", home)
    assert notes.read_text() == "unsaved local edits, longer than before\n"
    assert ("1 existing file(s) differ from the snapshot and were left as they are: list them with "
            "--dry-run, replace them with --overwrite if-changed (or if-newer, always)") in r.stderr
    assert "1 file(s) already as in the snapshot" in r.stdout

    r = repo.run("restore", spec, "--target", home, "--dry-run", "--delete")
    assert f"would keep {notes} (it differs from the snapshot's)\n" in r.stdout
    assert f"would delete {home}/extra.txt\n" in r.stdout
    assert "would delete 1 item(s) the snapshot does not have" in r.stdout
    assert "1 existing file(s) differ from the snapshot and would be kept (--overwrite replaces them)" in r.stdout
    assert r.stderr == ""
    r = repo.run("restore", spec, "--target", home, "--dry-run", "--overwrite", "if-changed")
    assert f"would overwrite {notes}\n" in r.stdout
    assert (home / "extra.txt").exists() and notes.read_text().startswith("unsaved")
    fresh = repo.tmp / "fresh"
    r = repo.run("restore", spec, "--target", fresh, "--dry-run")
    assert f"would restore {fresh}/docs/notes.txt\n" in r.stdout and not fresh.exists()

    # the local edit is newer than the snapshot's copy: if-newer keeps it
    repo.run("restore", spec, "--target", home, "--overwrite", "if-newer")
    assert notes.read_text().startswith("unsaved")
    r = repo.run("restore", spec, "--target", home, "--overwrite", "if-changed")
    assert notes.read_text() == "saved version\n" and "differ" not in r.stderr
    assert (home / "extra.txt").exists()
    r = repo.run("restore", spec, "--target", home, "--delete")
    assert not (home / "extra.txt").exists() and "deleted 1 item(s) the snapshot does not have" in r.stdout
    # only inside what was backed up: the whole snapshot also holds home's
    # ancestors, whose other entries in the target are left alone
    mirror = repo.tmp / "mirror"
    (mirror / "unrelated").mkdir(parents=True)
    r = repo.run("restore", "latest", "--target", mirror, "--delete", "--dry-run")
    assert "would delete" not in r.stdout.replace("would delete 0", ""), r.stdout
    (mirror / str(home).lstrip("/")).mkdir(parents=True)
    (mirror / str(home).lstrip("/") / "stray.txt").write_text("x")
    r = repo.run("restore", "latest", "--target", mirror, "--delete")
    assert (mirror / "unrelated").is_dir() and not (mirror / str(home).lstrip("/") / "stray.txt").exists()

    r = repo.run("restore", spec, "--target", home, "--overwrite", "sometimes", check=False)
    assert r.returncode == 2
    assert "--overwrite takes never, if-changed, if-newer or always, not 'sometimes'" in r.stderr


def test_restore_include_that_matches_nothing_fails(repo):
    home = repo.tmp / "home"
    (home / "thesis.txt").write_text("chapter 1\n")
    repo.run("backup", home)
    r = repo.run("restore", "latest", "--target", repo.tmp / "out", "--include", "thesis.txt", check=False)
    assert r.returncode == 4, r.stderr
    assert ("--include 'thesis.txt' matched nothing in the snapshot: paths look like those 'cloudseal ls' "
            "shows (e.g. '/home/me/thesis.txt', or '*/thesis.txt')") in r.stderr
    r = repo.run("restore", "latest", "--target", repo.tmp / "out", "--include", "*/thesis.txt")
    assert (repo.tmp / "out" / str(home).lstrip("/") / "thesis.txt").read_text() == "chapter 1\n"


def test_json_short_id_and_backup_status_stream(repo):
    """Issue 18 item 8: snapshots --json has short_id; backup --json streams
    status lines (restic's message_type) and ends with the summary."""
    home = repo.tmp / "home"
    (home / "a.txt").write_text("a\n")
    lines = [json.loads(l) for l in repo.run("--json", "backup", home).stdout.splitlines()]
    assert [l["message_type"] for l in lines][-2:] == ["status", "summary"]
    assert all(l["message_type"] == "status" for l in lines[:-1])
    assert lines[-2]["files"] == 1 and lines[-1]["summary"]["files_new"] == 1
    snap = snapshots(repo)[-1]
    assert snap["short_id"] == snap["id"][:8] == lines[-1]["short_id"]


def test_status_shows_the_newest_snapshot_made_by_hand(repo):
    """Issue 18 item 8: the agent's "Last backup" counts only its own runs;
    status names the newest snapshot, a backup by hand included."""
    home = repo.tmp / "home"
    (home / "a.txt").write_text("a\n")
    r = repo.run("status")
    assert "Snapshots:    none yet\n" in r.stdout, r.stdout
    repo.run("backup", home)
    snap = snapshots(repo)[-1]
    r = repo.run("status")
    assert f"({snap['short_id']} from {snap['host']}; 1 in all)\n" in r.stdout, r.stdout
    assert "Newest snapshot: " in r.stdout and r.stderr == "", r.stderr
    st = json.loads(repo.run("status", "--json").stdout)
    assert st["newest_snapshot"]["id"] == snap["id"]
