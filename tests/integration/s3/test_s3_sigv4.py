# SPDX-License-Identifier: MIT
"""SigV4 signatures checked by an independent verifier (sigv4.py): first the
verifier against AWS's published examples, then every request the client
sends to a server that accepts only what verifies, with keys and prefixes
whose encoding is where signatures go wrong (spaces, '+', '~', '=', '&',
UTF-8, percent signs)."""
import hashlib
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sigv4  # noqa: E402
from sigv4_server import checking_server  # noqa: E402,F401 (a fixture)

EMPTY = hashlib.sha256(b"").hexdigest()


def test_verifier_reproduces_aws_published_signatures():
    # S3 API reference, "Signature Calculations for the Authorization Header", GET Object
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    headers = {"host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9",
               "x-amz-content-sha256": EMPTY, "x-amz-date": "20130524T000000Z"}
    assert sigv4.signature(secret, "GET", "/test.txt", "", headers, sorted(headers), EMPTY,
                           "20130524T000000Z", "20130524/us-east-1/s3/aws4_request") == \
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    # the Signature Version 4 test suite, get-vanilla
    headers = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}
    assert sigv4.signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "GET", "/", "", headers,
                           sorted(headers), EMPTY, "20150830T123600Z",
                           "20150830/us-east-1/service/aws4_request") == \
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


def test_canonical_forms():
    assert sigv4.canonical_uri("/b/a%20b/c~d") == "/b/a%20b/c~d"
    assert sigv4.canonical_uri("/b/a+b") == "/b/a%2Bb"          # '+' is not a space in a path
    assert sigv4.canonical_query("prefix=a%2Fb&list-type=2") == "list-type=2&prefix=a%2Fb"
    assert sigv4.canonical_query("a=%7e") == "a=~"


KEYS = ["plain", "with space", "plus+sign", "tilde~x", "eq=and&amp", "percent%41", "utf8-\u00e9\u4e2d",
        "dir/sub dir/f (1).txt", "star*quote'bang!"]


def test_every_request_the_client_signs_verifies(checking_server, s3tool_bin):
    srv, ep = checking_server
    url = f"{ep.base}/sigv4-bucket/pre-fix"
    for k in KEYS:
        ep.ok(url, "put", k, input=k.encode())
    for k in KEYS:
        assert ep.ok(url, "get", k).stdout == k.encode()
        assert ep.ok(url, "get", k, "1", "3").stdout in (k.encode()[1:4], k.encode())
        ep.ok(url, "stat", k)
    listed = ep.ok(url, "list").stdout.decode().splitlines()
    assert len(listed) == len(KEYS), listed
    assert ep.ok(url, "list", "dir/sub dir/").stdout.decode().count("\n") == 1
    for k in KEYS:
        ep.ok(url, "del", k)
    bad = [entry for entry in srv.log if entry[2]]
    assert not bad, bad
    assert len(srv.log) >= 5 * len(KEYS), srv.log


def test_a_wrong_secret_is_refused_by_the_verifier(checking_server, s3tool_bin):
    srv, ep = checking_server
    r = ep.run(f"{ep.base}/sigv4-bucket/x", "put", "k", input=b"v", env=ep.env(AWS_SECRET_ACCESS_KEY="not-the-secret"))
    assert r.returncode == 1 and "SignatureDoesNotMatch" in r.stderr, r.stderr
    assert srv.log and srv.log[-1][2].startswith("signature ")
