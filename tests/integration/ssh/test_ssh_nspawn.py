# SPDX-License-Identifier: MIT
"""End to end in a booted Debian 12 container (tests/integration/agent/
test_e2e_nspawn.py's machinery): Debian's sshd with the stack pam-auth-update
style lines of that test, a keyboard-interactive password login over ssh,
and the user's agent gets the key and backs up (issue 20)."""
import importlib.util
import pathlib
import subprocess

import pytest

import ports
import uids

_spec = importlib.util.spec_from_file_location(
    "cs_e2e_nspawn_for_ssh", pathlib.Path(__file__).resolve().parents[1] / "agent" / "test_e2e_nspawn.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

# slow (a container boot; a rootfs build when the package list is new):
# `make check-quick` deselects it like the other nspawn tests
pytestmark = [pytest.mark.nspawn, pytest.mark.root]


@pytest.fixture(scope="module")
def ssh_rootfs(request):
    """The test rootfs with openssh-server, openssh-client and sshpass (its own cached tree)."""
    import os
    import shutil
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap, systemd-nspawn)")
    for tool in ("systemd-nspawn", "debootstrap", "nsenter"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} missing: run scripts/install-deps.sh (package systemd-container/debootstrap)")
    r = subprocess.run([str(e2e.ROOTFS_SH), "openssh-server", "openssh-client", "sshpass"],
                       capture_output=True, text=True, timeout=900)
    if r.returncode == 75:
        msg = f"the Debian archive cannot be reached: {r.stderr.strip().splitlines()[-1]}"
        e2e.loud(request.config, msg)
        pytest.skip(msg)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def no_sshd_at_boot(root):
    """The container shares the host's network: its sshd must not take a
    port before start_sshd() has chosen one."""
    (root / "etc/systemd/system/multi-user.target.wants/ssh.service").unlink(missing_ok=True)


def start_sshd(c, conf):
    """ssh.service on 127.0.0.1 with conf (more sshd_config lines).  sshd
    takes its port from its config only: another when the chosen one was
    taken meanwhile (ports.py).  Returns the port."""
    def state():
        return c("systemctl", "is-active", "ssh", check=False).stdout.strip()

    def start(port):
        c("sh", "-c", "cat > /etc/ssh/sshd_config.d/cs-test.conf",
          input=f"Port {port}\nListenAddress 127.0.0.1\n{conf}")
        c("systemctl", "restart", "ssh", check=False)
        c.wait("sshd", lambda: state() in ("active", "failed"))
        if state() == "active":
            return port
        log = c("journalctl", "-q", "--no-pager", "-u", "ssh", check=False).stdout
        if ports.in_use(log):
            c("systemctl", "reset-failed", "ssh", check=False)
            raise ports.PortTaken()
        raise AssertionError(f"sshd did not start:\n{log[-4000:]}")

    return ports.start_on_free_port(start)


def test_ssh_password_login_starts_the_agent_with_the_key(ssh_rootfs, tmp_path):
    uid = uids.container(1)  # keyrings are shared with the host per uid: this run's
    user = f"css{uid}"

    def setup(root):
        e2e.add_pam_lines(root)
        no_sshd_at_boot(root)

    with e2e.booted(ssh_rootfs, tmp_path / "ct", "logout", setup) as c:
        c("useradd", "-m", "-u", str(uid), "-s", "/bin/bash", user)
        c("chpasswd", input=f"{user}:{e2e.PASSWORD}\n")
        c("install", "-d", "-m", "0755", "/var/lib/cloudseal/keybags", "/var/lib/cloudseal/storage/users")
        c("install", "-d", "-o", user, "-m", "0700", f"/var/lib/cloudseal/keybags/{user}",
          f"/var/lib/cloudseal/storage/users/{user}")
        c("runuser", "-u", user, "--", "sh", "-c", "mkdir ~/data && echo 'precious' > ~/data/thesis.txt")
        c("runuser", "-u", user, "--", "cloudseal", "enroll", "--password-stdin", input=e2e.PASSWORD + "\n")
        c("runuser", "-u", user, "--", "cloudseal", "lock", check=False)
        c("systemctl", "--global", "enable", "cloudseal-agent.service", "cloudseal-agent.socket")

        def agent_status():
            return c.as_user(user, uid, "systemctl", "--user", "show", "-p", "StatusText", "--value",
                             "cloudseal-agent.service", check=False).stdout.strip()

        port = start_sshd(c, "KbdInteractiveAuthentication yes\n")
        # an ssh session held open (lock = logout would revoke at its end)
        c("systemd-run", f"--unit=cs-ssh-{uid}", f"--setenv=SSHPASS={e2e.PASSWORD}", "sshpass", "-e", "ssh",
          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
          "-o", "PreferredAuthentications=keyboard-interactive", "-p", str(port), f"{user}@127.0.0.1",
          "sleep 600")
        c.wait("the key in the keyring after the ssh login", lambda: "cloudseal:amk:" in c(
            "runuser", "-u", user, "--", "sh", "-c",
            "for k in $(keyctl rlist @u); do keyctl rdescribe $k; done", check=False).stdout, timeout=30)
        c.wait("a finished backup", lambda: agent_status().startswith("idle, next backup"), timeout=90)
        c("systemctl", "stop", f"cs-ssh-{uid}.service", check=False)


def test_ssh_key_login_agent_waits_until_unlock(ssh_rootfs, tmp_path):
    """Issue 20 item 3 under real systemd: a key login has no password, so
    the user manager's agent starts without the key.  It is active and
    waits (no failure, no restart); `cloudseal status` in the session says
    to unlock; `cloudseal unlock` over ssh wakes it (keyring_poll is 300 s
    here: only the unlock's word to the agent explains a prompt start) and
    it backs up."""
    uid = uids.container(2)  # keyrings are shared with the host per uid: this run's
    user = f"csk{uid}"
    locked = "locked: waiting for the key (run 'cloudseal unlock')"

    def setup(root):
        e2e.add_pam_lines(root)
        no_sshd_at_boot(root)
        conf = root / "etc/cloudseal/cloudseal.conf"
        conf.write_text(conf.read_text().replace("keyring_poll = 1s", "keyring_poll = 300s"))

    with e2e.booted(ssh_rootfs, tmp_path / "ct", "logout", setup) as c:
        c("useradd", "-m", "-u", str(uid), "-s", "/bin/bash", user)
        c("install", "-d", "-m", "0755", "/var/lib/cloudseal/keybags", "/var/lib/cloudseal/storage/users")
        c("install", "-d", "-o", user, "-m", "0700", f"/var/lib/cloudseal/keybags/{user}",
          f"/var/lib/cloudseal/storage/users/{user}")
        c("runuser", "-u", user, "--", "sh", "-c", "mkdir ~/data && echo 'precious' > ~/data/thesis.txt")
        c("runuser", "-u", user, "--", "cloudseal", "enroll", "--password-stdin", input=e2e.PASSWORD + "\n")
        c("runuser", "-u", user, "--", "cloudseal", "lock", check=False)
        c("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "/root/cs-id")
        c("runuser", "-u", user, "--", "sh", "-c", "mkdir -m 700 ~/.ssh && cat > ~/.ssh/authorized_keys",
          input=c("cat", "/root/cs-id.pub").stdout)
        c("systemctl", "--global", "enable", "cloudseal-agent.service", "cloudseal-agent.socket")
        port = start_sshd(c, "PubkeyAuthentication yes\n")
        ssh = ["ssh", "-i", "/root/cs-id", "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-p", str(port), f"{user}@127.0.0.1"]

        def agent_prop(p):
            return c.as_user(user, uid, "systemctl", "--user", "show", "-p", p, "--value",
                             "cloudseal-agent.service", check=False).stdout.strip()

        # a key login held open: the user manager starts, the agent with it
        c("systemd-run", f"--unit=cs-ssh-{uid}", *ssh, "sleep 600")
        c.wait("the agent waiting for the key", lambda: agent_prop("StatusText") == locked, timeout=90)
        assert agent_prop("ActiveState") == "active" and agent_prop("NRestarts") == "0"
        status = c(*ssh, "cloudseal status").stdout
        assert "Unlocked:     no (locked: run 'cloudseal unlock'" in status, status
        assert locked in status, status  # the agent's line
        c(*ssh, "cloudseal unlock --password-stdin", input=e2e.PASSWORD + "\n")
        c.wait("a finished backup", lambda: agent_prop("StatusText").startswith("idle, next backup"), timeout=60)
        assert agent_prop("NRestarts") == "0" and agent_prop("ActiveState") == "active"
        journal = c("journalctl", "-q", "--no-pager", f"_UID={uid}", "-t", "cloudseal-agent", check=False).stdout
        assert "backups are failing" not in journal, journal[-4000:]
        c("systemctl", "stop", f"cs-ssh-{uid}.service", check=False)
