# SPDX-License-Identifier: MIT
"""Credentials as the AWS tools find them: the environment (with a session
token), the shared credentials and config files with profiles, the
profile's region; the session token sent as x-amz-security-token and
signed (checked by the independent SigV4 verifier and by Ceph RGW); an
expired token refused with a message naming where it came from."""
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from sigv4_server import checking_server  # noqa: E402,F401 (a fixture)

# STS tokens are long (AWS: 400-2000 bytes) and use the base64 alphabet:
# longer than inih's 200-byte lines, with '/', '+' and '='.
TOKEN = "FwoGZXIvYXdzE" + "Ab+/cd=" * 200 + "END"


def bare_env(ep, home, **extra):
    """The endpoint's environment without AWS_* credentials, HOME in tmp."""
    e = ep.env(HOME=str(home))
    for k in list(e):
        if k.startswith("AWS_"):
            del e[k]
    e.update(extra)
    return e


def write_private(path, text):
    path.write_text(text)
    path.chmod(0o600)
    return path


def signed_headers(auth):
    return auth.split("SignedHeaders=")[1].split(",")[0].split(";")


def scope_region(auth):
    return auth.split("Credential=")[1].split("/")[2]


def test_session_token_from_the_environment_is_sent_and_signed(checking_server, tmp_path):
    srv, ep = checking_server
    url = f"{ep.base}/tok-bucket/p"
    env = ep.env(HOME=str(tmp_path), AWS_SESSION_TOKEN=TOKEN)
    ep.ok(url, "put", "k", input=b"value", env=env)
    assert ep.ok(url, "get", "k", env=env).stdout == b"value"
    assert ep.ok(url, "list", env=env).stdout.decode().startswith("k ")
    ep.ok(url, "del", "k", env=env)
    assert srv.log and not [e for e in srv.log if e[2]], srv.log
    for seen in srv.seen:
        assert seen["token"] == TOKEN
        assert "x-amz-security-token" in signed_headers(seen["auth"]), seen["auth"]
        assert scope_region(seen["auth"]) == "us-east-1"


def test_profile_from_the_shared_files_with_its_region(checking_server, tmp_path):
    srv, ep = checking_server
    creds = write_private(tmp_path / "creds", f"""# the AWS CLI's format
[default]
aws_access_key_id = WRONGKEY
aws_secret_access_key = wrong-secret

[work]
aws_access_key_id = {ep.access}
aws_secret_access_key = {ep.secret}
aws_session_token = {TOKEN}
""")
    config = write_private(tmp_path / "config", """[default]
region = us-west-1
[profile work]
region = eu-west-3
s3 =
  max_concurrent_requests = 20
""")
    env = bare_env(ep, tmp_path, AWS_PROFILE="work", AWS_SHARED_CREDENTIALS_FILE=str(creds),
                   AWS_CONFIG_FILE=str(config))
    url = f"{ep.base}/prof-bucket/p"
    ep.ok(url, "put", "k", input=b"from a profile", env=env)
    assert ep.ok(url, "get", "k", env=env).stdout == b"from a profile"
    assert srv.log and not [e for e in srv.log if e[2]], srv.log
    assert all(s["token"] == TOKEN and scope_region(s["auth"]) == "eu-west-3" for s in srv.seen), srv.seen[-1]

    # [default] of ~/.aws/credentials when nothing names a profile: the wrong pair here
    (tmp_path / ".aws").mkdir()
    write_private(tmp_path / ".aws" / "credentials", creds.read_text())
    r = ep.run(url, "get", "k", env=bare_env(ep, tmp_path))
    assert r.returncode == 1 and "SignatureDoesNotMatch" in r.stderr, r.stderr
    assert "WRONGKEY/" in srv.seen[-1]["auth"] and scope_region(srv.seen[-1]["auth"]) == "us-east-1"
    # the environment's pair comes before any profile
    assert ep.ok(url, "get", "k", env=bare_env(ep, tmp_path, AWS_ACCESS_KEY_ID=ep.access,
                                                AWS_SECRET_ACCESS_KEY=ep.secret)).stdout == b"from a profile"


def test_a_credentials_file_others_may_read_is_refused(checking_server, tmp_path):
    srv, ep = checking_server
    creds = tmp_path / "creds"
    creds.write_text(f"[default]\naws_access_key_id = {ep.access}\naws_secret_access_key = {ep.secret}\n")
    creds.chmod(0o644)
    r = ep.run(f"{ep.base}/bkt/p", "get", "k", env=bare_env(ep, tmp_path, AWS_SHARED_CREDENTIALS_FILE=str(creds)))
    assert r.returncode == 1 and f"chmod 600 {creds}" in r.stderr, r.stderr
    assert not srv.log


def test_a_malformed_credentials_file_names_itself(checking_server, tmp_path):
    srv, ep = checking_server
    creds = write_private(tmp_path / "creds", "[default]\naws_access_key_id\n")
    r = ep.run(f"{ep.base}/bkt/p", "get", "k", env=bare_env(ep, tmp_path, AWS_SHARED_CREDENTIALS_FILE=str(creds)))
    assert r.returncode == 1 and f"cannot use {creds}" in r.stderr and "line 2" in r.stderr, r.stderr
    assert not srv.log


def test_an_expired_token_is_not_sent_and_names_its_source(checking_server, tmp_path):
    srv, ep = checking_server
    env = ep.env(HOME=str(tmp_path), AWS_SESSION_TOKEN=TOKEN, AWS_CREDENTIAL_EXPIRATION="2020-01-01T00:00:00Z")
    r = ep.run(f"{ep.base}/bkt/p", "get", "k", env=env)
    assert r.returncode == 1, r.stderr
    assert "session token from AWS_ACCESS_KEY_ID and AWS_SESSION_TOKEN (environment) expired at " \
           "2020-01-01T00:00:00Z" in r.stderr, r.stderr
    assert not srv.log
    r = ep.run(f"{ep.base}/bkt/p", "get", "k", env=dict(env, AWS_CREDENTIAL_EXPIRATION="next tuesday"))
    assert r.returncode == 1 and "AWS_CREDENTIAL_EXPIRATION" in r.stderr, r.stderr


def test_a_token_the_server_calls_expired_names_its_source(checking_server, tmp_path):
    srv, ep = checking_server
    srv.expired_tokens.add(TOKEN)
    creds = write_private(tmp_path / "creds", f"[ci]\naws_access_key_id = {ep.access}\n"
                                              f"aws_secret_access_key = {ep.secret}\naws_session_token = {TOKEN}\n")
    env = bare_env(ep, tmp_path, AWS_PROFILE="ci", AWS_SHARED_CREDENTIALS_FILE=str(creds))
    r = ep.run(f"{ep.base}/bkt/p", "put", "k", input=b"x", env=env)
    assert r.returncode == 1 and "EKEYEXPIRED" in r.stderr, r.stderr
    assert f"session token from {creds}, profile ci (with a session token) was refused by the server" in r.stderr
    assert r.stderr.count("session token from") == 1, r.stderr  # once, not once per retry
    assert len(srv.log) == 1  # not retried either


def test_profile_and_region_against_rgw(rgw, rgw_bucket, tmp_path):
    """RGW verifies the signature, whose scope carries the profile's region
    and which covers the x-amz-security-token header.  RGW here has no STS
    (that needs roles and an STS key set up), so it does not check the token
    itself: the SigV4 verifier tests above check what is sent."""
    creds = write_private(tmp_path / "creds", f"[rgw]\naws_access_key_id={rgw.access}\n"
                                              f"aws_secret_access_key={rgw.secret}\naws_session_token={TOKEN}\n"
                                              "[bad]\naws_access_key_id=" + rgw.access +
                                              "\naws_secret_access_key=not-the-secret\n")
    config = write_private(tmp_path / "config", "[profile rgw]\nregion = ap-southeast-2\n")
    env = bare_env(rgw, tmp_path, AWS_PROFILE="rgw", AWS_SHARED_CREDENTIALS_FILE=str(creds),
                   AWS_CONFIG_FILE=str(config))
    url = f"{rgw_bucket}/profiles-{os.getpid()}"
    body = os.urandom(200000)
    rgw.ok(url, "put", "obj", input=body, env=env)
    assert rgw.ok(url, "get", "obj", env=env).stdout == body
    r = rgw.run(url, "get", "obj", env=dict(env, AWS_PROFILE="bad"))
    assert r.returncode == 1 and "EACCES" in r.stderr, r.stderr
    rgw.ok(url, "del", "obj", env=env)




def test_the_profiles_region_with_credentials_from_elsewhere(checking_server, tmp_path):
    """Credentials from the environment, region from the profile; the
    credentials file is not read for them, so its mode is not a concern."""
    srv, ep = checking_server
    (tmp_path / ".aws").mkdir()
    loose = tmp_path / ".aws" / "credentials"
    loose.write_text("[default]\naws_access_key_id = OTHER\naws_secret_access_key = other-secret\n")
    loose.chmod(0o644)
    (tmp_path / ".aws" / "config").write_text("[default]\nregion = sa-east-1\n")
    r = ep.run(f"{ep.base}/bkt/p", "put", "k", input=b"x", env=ep.env(HOME=str(tmp_path)))
    assert r.returncode == 0 and "chmod" not in r.stderr, r.stderr
    assert scope_region(srv.seen[-1]["auth"]) == "sa-east-1" and "SIGV4TESTKEY/" in srv.seen[-1]["auth"]
    # AWS_REGION comes before the profile's
    r = ep.run(f"{ep.base}/bkt/p", "put", "k", input=b"x", env=ep.env(HOME=str(tmp_path), AWS_REGION="eu-north-1"))
    assert r.returncode == 0 and scope_region(srv.seen[-1]["auth"]) == "eu-north-1", r.stderr
