# SPDX-License-Identifier: MIT
"""--json of the storage commands stays valid UTF-8 when a string comes
from the environment or the config as bytes that are not: U+FFFD for
people, KEY_base64 with the exact bytes (cloudseal(1))."""
import base64
import json
import os
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from s3_helpers import BUILD  # noqa: E402

PW = "json names password\n"


def test_credentials_show_of_a_profile_file_name_that_is_not_utf8(s3rver, s3rver_bucket, cs_config, tmp_path,
                                                                    lock_at_end):
    """'from' names the AWS credentials file the key pair came from: a
    path, any bytes."""
    path, write = cs_config
    write(storage={"url": f"{s3rver_bucket}/json-names-{os.getpid()}", "max_retries": "1"})
    env = s3rver.env(CLOUDSEAL_CONFIG=str(path))
    lock_at_end(env)
    cs = str(BUILD / "cloudseal")
    r = subprocess.run([cs, "enroll", "--password-stdin"], input=PW, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    creds = os.path.join(os.fsencode(str(tmp_path)), b"aws-caf\xe9")
    with open(creds, "w") as f:
        f.write(f"[default]\naws_access_key_id = {s3rver.access}\naws_secret_access_key = {s3rver.secret}\n")
    os.chmod(creds, 0o600)
    odd = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    odd.update(AWS_SHARED_CREDENTIALS_FILE=os.fsdecode(creds), AWS_CONFIG_FILE=str(tmp_path / "none"))
    r = subprocess.run([cs, "--json", "storage", "credentials", "show", "--password-stdin"], input=PW.encode(),
                       env=odd, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout.decode("utf-8", errors="strict"))
    assert shown["source"] == "machine" and shown["access_key"] == s3rver.access, shown
    exact = base64.b64decode(shown["from_base64"])
    assert exact.startswith(creds) and "aws-caf\ufffd" in shown["from"], shown
    assert "access_key_base64" not in shown, shown
