# SPDX-License-Identifier: MIT
"""One verb dispatcher and one option layer (issue 19 item 4): every verb of
every tool's table, read from the tool's own --help (never a list kept
here), answers the same way:

  TOOL VERB --help             exit 0, "Usage:" on stdout
  TOOL VERB --no-such-option   exit 2, "Try 'TOOL VERB --help'." on stderr
  TOOL VERB x x x ...          exit 2 (verbs without a VERB... operand)

The tools: cloudseal, cloudseal admin, cloudseal storage, cloudseal storage
credentials, cloudseal archive, agent, key, keybag and repair,
cloudseal-helper, and cloudseal-agent (no verbs: itself)."""
import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")

# (binary, the words before the verb) of every table of verbs
TOOLS = {
    "cloudseal": ("cloudseal", []),
    "cloudseal admin": ("cloudseal", ["admin"]),
    "cloudseal storage": ("cloudseal", ["storage"]),
    "cloudseal storage credentials": ("cloudseal", ["storage", "credentials"]),
    "cloudseal archive": ("cloudseal", ["archive"]),
    "cloudseal agent": ("cloudseal", ["agent"]),
    "cloudseal key": ("cloudseal", ["key"]),
    "cloudseal keybag": ("cloudseal", ["keybag"]),
    "cloudseal repair": ("cloudseal", ["repair"]),
    "cloudseal-helper": ("cloudseal-helper", []),
}
# a variadic operand in a synopsis ("PATH...", "USER...", "[ARGS...]"):
# no count is too many
VARIADIC = re.compile(r"\b[A-Z]+\.\.\.")
TOO_MANY = ["extra-operand"] * 12


@pytest.fixture
def runner(cs_config, tmp_path):
    """Run a tool in tmp_path with the test's config and home: nothing on the
    host is read or written even by a verb that runs when it should refuse
    (admin keygen writes ./fleet.key), and stdin is empty (the helper reads
    frames there)."""
    config, _ = cs_config
    env = {**os.environ, "CLOUDSEAL_CONFIG": str(config), "HOME": str(tmp_path),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    (tmp_path / "run").mkdir(mode=0o700)

    def run(binary, *args):
        pre = ["--config", str(config)] if binary == "cloudseal-helper" else []
        return subprocess.run([str(BUILD / binary), *pre, *args], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)
    return run


def verbs_of(help_text):
    """The verb names of the "Commands:" list of a --help text."""
    lines = help_text.split("Commands:\n", 1)[1].splitlines()
    names = []
    for line in lines:
        if not line.strip():
            break
        names.append(line.split()[0])
    return names


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_verb_answers_help_bad_options_and_operands(runner, tool):
    binary, words = TOOLS[tool]
    top = runner(binary, *words, "--help")
    assert top.returncode == 0 and "Commands:" in top.stdout, (tool, top.stdout, top.stderr)
    verbs = verbs_of(top.stdout)
    assert verbs, (tool, top.stdout)  # keybag has one
    wrong = []
    for verb in verbs:
        path = " ".join([binary, *words, verb])
        r = runner(binary, *words, verb, "--help")
        if r.returncode != 0 or not r.stdout.startswith("Usage:"):
            wrong.append(f"{path} --help: exit {r.returncode}, stdout {r.stdout[:80]!r}, stderr {r.stderr!r}")
        usage = r.stdout
        r = runner(binary, *words, verb, "--no-such-option")
        if r.returncode != 2 or f"Try '{path} --help'." not in r.stderr:
            wrong.append(f"{path} --no-such-option: exit {r.returncode}, stderr {r.stderr!r}")
        if VARIADIC.search(usage):
            continue
        r = runner(binary, *words, verb, *TOO_MANY)
        if r.returncode != 2:
            wrong.append(f"{path} with {len(TOO_MANY)} operands: exit {r.returncode}, stderr {r.stderr!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("binary", ["cloudseal", "cloudseal-helper", "cloudseal-agent"])
def test_tools_own_options(runner, binary):
    """The options before a verb (and the agent's, which has no verbs)
    answer as a verb's do."""
    r = runner(binary, "--help")
    assert r.returncode == 0 and r.stdout.startswith(f"Usage: {binary} "), r
    r = runner(binary, "--no-such-option")
    assert r.returncode == 2 and r.stderr.endswith(f"Try '{binary} --help'.\n"), r
    if binary == "cloudseal-agent":
        r = runner(binary, "extra-operand")
        assert r.returncode == 2 and "unexpected operand 'extra-operand'" in r.stderr, r


def test_operand_count_errors_say_what_and_where(runner):
    """The dispatcher's words for a wrong count, naming the whole command."""
    r = runner("cloudseal", "admin", "approve")
    assert r.returncode == 2 and r.stderr == ("cloudseal admin approve: missing operand (wants 1)\n"
                                              "Try 'cloudseal admin approve --help'.\n"), r.stderr
    r = runner("cloudseal", "admin", "verify", "a", "b")
    assert r.returncode == 2 and "cloudseal admin verify: unexpected operand 'b'\n" in r.stderr, r.stderr
    r = runner("cloudseal", "diff", "latest")
    assert r.returncode == 2 and "cloudseal diff: missing operand (wants 2)\n" in r.stderr, r.stderr


# every verb with sub-verbs of its own (a table run by cli_sub_dispatch())
SUB_VERBS = [tool.split(" ", 1)[1] for tool in sorted(TOOLS) if tool.startswith("cloudseal ")]


@pytest.mark.parametrize("verb", SUB_VERBS)
def test_sub_verb_alone_or_misspelt_answers_as_every_verb(runner, verb):
    """No sub-verb: the verb's operand count ("missing operand"), except
    agent's default; an option before the sub-verb that the verb does not
    take: a usage error naming the verb; --help: the list of sub-verbs."""
    words = verb.split()
    if verb != "agent":
        r = runner("cloudseal", *words)
        assert r.returncode == 2 and r.stderr == (f"cloudseal {verb}: missing operand (wants at least 1)\n"
                                                  f"Try 'cloudseal {verb} --help'.\n"), r.stderr
    r = runner("cloudseal", *words, "--no-such-option", "x")
    assert r.returncode == 2 and r.stderr.endswith(f"Try 'cloudseal {verb} --help'.\n"), r.stderr
    r = runner("cloudseal", *words, "--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage:") and "\nCommands:\n" in r.stdout, r.stdout
    assert r.stdout.endswith(f"Run 'cloudseal {verb} COMMAND --help' for its options.\n"), r.stdout


def test_key_operands_are_counted_by_the_table(runner):
    """key remove takes one slot id, list and add-fido2 none: counted before
    anything is read or unlocked."""
    for args, said in ((["remove"], "cloudseal key remove: missing operand (wants 1)\n"),
                       (["remove", "1", "2"], "cloudseal key remove: unexpected operand '2'\n"),
                       (["list", "x"], "cloudseal key list: unexpected operand 'x'\n"),
                       (["add-fido2", "x"], "cloudseal key add-fido2: unexpected operand 'x'\n")):
        r = runner("cloudseal", "key", *args)
        path = " ".join(["cloudseal", "key", args[0]])
        assert r.returncode == 2 and r.stderr == said + f"Try '{path} --help'.\n", (args, r.stderr)
    r = runner("cloudseal", "key", "list", "--policy", "both")  # add-fido2's option, not list's
    assert r.returncode == 2 and "Try 'cloudseal key list --help'." in r.stderr, r.stderr


def test_unknown_or_missing_sub_verb_is_a_usage_error(runner):
    """A verb with sub-verbs names the unknown one (or the missing one) as
    the dispatcher does for every table; `agent` alone is `agent status`."""
    for verb in SUB_VERBS:
        r = runner("cloudseal", *verb.split(), "no-such-command")
        assert r.returncode == 2 and r.stderr == (f"cloudseal {verb}: unknown command 'no-such-command'\n"
                                                  f"Try 'cloudseal {verb} --help'.\n"), (verb, r.stderr)
    r = runner("cloudseal", "archive")
    assert r.returncode == 2 and "cloudseal archive: missing operand" in r.stderr, r.stderr
    r = runner("cloudseal", "archive", "sync", "--since", "2h")   # deleted's option, not sync's
    assert r.returncode == 2 and "Try 'cloudseal archive sync --help'." in r.stderr, r.stderr
    r = runner("cloudseal", "agent")
    assert r.returncode == 6 and "the agent is not running" in r.stderr, r.stderr


@pytest.mark.parametrize("value", ["1x", "-1", "nan", "inf", "", " 5", "0x10", "1e3"])
def test_mount_refresh_interval_is_a_strict_number(runner, tmp_path, value):
    r = runner("cloudseal", "mount", "--refresh-interval", value, str(tmp_path))
    assert r.returncode == 2 and "--refresh-interval wants seconds" in r.stderr, (value, r.stderr)


def test_mount_refresh_interval_takes_fractions(runner, tmp_path):
    # parsed; the mount then fails for want of an account, not of a number
    r = runner("cloudseal", "mount", "--refresh-interval", "0.5", str(tmp_path))
    assert r.returncode != 0 and "--refresh-interval" not in r.stderr, r.stderr
