# SPDX-License-Identifier: MIT
"""An independent AWS Signature Version 4 verifier, written from AWS's
specification, so that the client's signatures do not rest on one server's
implementation (s3rver checks none, RGW is one reading of the spec).  It
canonicalises what it received itself: decodes the path and query and
encodes them again per the spec, so a client that sends a non-canonical
encoding fails here as it would on AWS.  Checked against AWS's published
examples (test_s3_sigv4.py)."""
import hashlib
import hmac
import re
import urllib.parse

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def uri_encode(s, keep_slash):
    out = []
    for b in s.encode() if isinstance(s, str) else s:
        c = chr(b)
        out.append(c if c in UNRESERVED or (keep_slash and c == "/") else "%%%02X" % b)
    return "".join(out)


def canonical_uri(raw_path):
    return uri_encode(urllib.parse.unquote_to_bytes(raw_path), keep_slash=True) or "/"


def canonical_query(raw_query):
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        k, _, v = part.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote_to_bytes(k), False),
                      uri_encode(urllib.parse.unquote_to_bytes(v), False)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def signing_key(secret, date, region, service):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def signature(secret, method, raw_path, raw_query, headers, signed, payload_hash, amz_date, scope):
    """headers: {lower-case name: value}; signed: the SignedHeaders list;
    scope: "DATE/REGION/SERVICE/aws4_request"."""
    canon_headers = "".join(f"{h}:{re.sub(' +', ' ', headers[h].strip())}\n" for h in signed)
    creq = "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query), canon_headers,
                      ";".join(signed), payload_hash])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    return hmac.new(signing_key(secret, date, region, service), sts.encode(), hashlib.sha256).hexdigest()


AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$")


def verify(secret, method, raw_target, headers, body):
    """None when the request's Authorization verifies, else why not."""
    headers = {k.lower(): v for k, v in headers.items()}
    m = AUTH.match(headers.get("authorization", ""))
    if not m:
        return f"no SigV4 Authorization header: {headers.get('authorization')!r}"
    _, scope, signed, sig = m.groups()
    signed = signed.split(";")
    if signed != sorted(signed) or "host" not in signed or "x-amz-date" not in signed:
        return f"SignedHeaders {signed} not sorted or without host and x-amz-date"
    missing = [h for h in signed if h not in headers]
    if missing:
        return f"signed headers not sent: {missing}"
    payload = headers.get("x-amz-content-sha256", "")
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return f"x-amz-content-sha256 {payload!r} is not the body's hash"
    path, _, query = raw_target.partition("?")
    want = signature(secret, method, path, query, headers, signed, payload, headers["x-amz-date"], scope)
    return None if hmac.compare_digest(want, sig) else f"signature {sig} != {want}"
