# SPDX-License-Identifier: MIT
"""Issue 18 item 8, the key commands: unlock when already unlocked, a
locked command with a non-terminal stdin, recover leaving the keys
unlocked, and no fleet key outside a fleet."""
import json
import subprocess


def status(cli):
    return json.loads(cli("status", "--json").stdout)


def test_unlock_when_already_unlocked_says_so(cli):
    cli.enroll("pw one")
    assert status(cli)["unlocked"] is True
    r = cli("unlock", check=False, input="")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Already unlocked: nothing to do ('cloudseal lock' locks).\n"
    assert r.stderr == ""


def test_locked_command_with_non_tty_stdin_gives_the_real_reason_only(cli):
    cli.enroll("pw one")
    cli("lock")
    r = cli("snapshots", check=False, input="")
    assert r.returncode == 3, r.stderr
    assert r.stderr == "cloudseal: your keys are locked: run 'cloudseal unlock' or give your password\n"


def test_recover_leaves_the_keys_unlocked(cli):
    code = cli.enroll("pw one")
    cli("lock")
    r = cli("recover", "--password-stdin", input=f"{code}\nfresh pw\n")
    assert r.stdout == ("New password set and your keys unlocked.  Your recovery key stays valid; "
                        "keep it safe.\n")
    assert status(cli)["unlocked"] is True


def test_enroll_outside_a_fleet_prints_no_fleet_key(cli):
    r = cli("enroll", "--password-stdin", input="pw one\n")
    assert "Account public key" not in r.stdout and "fleet" not in r.stdout
    assert "Account id: " in r.stdout
