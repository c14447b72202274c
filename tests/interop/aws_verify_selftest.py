#!/usr/bin/env python3
"""Proves aws_verify_server.py with botocore's own signers (no signet involved).

Usage: aws_verify_selftest.py PORT   (the server must already listen on 127.0.0.1:PORT)
Prints one line per case and `N passed, N failed`; exits 1 on any failure.
"""

import datetime
import http.client
import sys
from urllib.parse import urlsplit

import botocore.auth
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

PORT = int(sys.argv[1])
BASE = f"http://127.0.0.1:{PORT}"
GOOD = Credentials("AKIDSIGNETINTEROP", "signet-interop-secret")
SESSION = Credentials("ASIASIGNETSESSION", "signet-session-secret", "signet-session-token/with+symbols==")
WRONG = Credentials("AKIDSIGNETINTEROP", "not-the-secret")


def send(req, body_override=None):
    parts = urlsplit(req.url)
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    target = parts.path + ("?" + parts.query if parts.query else "")
    body = req.body if body_override is None else body_override
    headers = dict(req.headers.items())
    if body:
        headers["Content-Length"] = str(len(body))
    conn.request(req.method, target, body=body or None, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read().decode()


class QueryAuthKeepingBody(SigV4QueryAuth):
    """botocore moves a presigned request's body into the query; keep it as the body instead."""

    def _modify_request_before_signing(self, request):
        data, request.data = request.data, b""
        super()._modify_request_before_signing(request)
        request.data = data


def signed(auth_cls, creds, service, method, path, body=b"", headers=None, unsigned=False, **kw):
    req = AWSRequest(method=method, url=BASE + path, data=body, headers=dict(headers or {}))
    if unsigned:
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    auth_cls(creds, service, "eu-west-1", **kw).add_auth(req)
    return req


def main():
    cases = []

    def case(name, expect, req, **kw):
        status, text = send(req, **kw)
        ok = status == expect
        cases.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {status} {text.strip().splitlines()[0]}")

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    case("header sqs form body", 200, signed(SigV4Auth, GOOD, "sqs", "POST", "/", b"Action=ListQueues", form))
    case("header s3 put (body hash)", 200, signed(S3SigV4Auth, GOOD, "s3", "PUT", "/bucket/k%20ey.txt", b"hello"))
    unsigned = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    case("header s3 UNSIGNED-PAYLOAD", 200, signed(S3SigV4Auth, GOOD, "s3", "PUT", "/bucket/big", b"x" * 100, unsigned=True))
    case("header session token", 200, signed(SigV4Auth, SESSION, "execute-api", "GET", "/prod/items?b=2&a=1"))
    case("query s3 presigned GET", 200, signed(S3SigV4QueryAuth, GOOD, "s3", "GET", "/bucket/photo.jpg?versionId=3", expires=600))
    case("query sqs with body", 200, signed(QueryAuthKeepingBody, GOOD, "sqs", "POST", "/", b"Action=ListQueues", form))
    case("query body changed", 401, signed(QueryAuthKeepingBody, GOOD, "sqs", "POST", "/", b"Action=ListQueues", form), body_override=b"Action=Other")
    case("query session token", 200, signed(S3SigV4QueryAuth, SESSION, "s3", "GET", "/bucket/a", expires=60))

    case("wrong secret", 401, signed(SigV4Auth, WRONG, "sqs", "POST", "/", b"Action=ListQueues", form))
    case("body changed after signing", 401, signed(SigV4Auth, GOOD, "sqs", "POST", "/", b"Action=ListQueues", form), body_override=b"Action=DeleteQueue")
    case("s3 body differs from its hash", 401, signed(S3SigV4Auth, GOOD, "s3", "PUT", "/bucket/k", b"hello"), body_override=b"HELLO")
    case("UNSIGNED-PAYLOAD for sqs", 401, signed(SigV4Auth, GOOD, "sqs", "POST", "/", b"Action=ListQueues", {**form, **unsigned}))
    case("s3 without x-amz-content-sha256", 401, signed(SigV4Auth, GOOD, "s3", "GET", "/bucket/k"))
    no_token = signed(SigV4Auth, SESSION, "sqs", "GET", "/")
    del no_token.headers["X-Amz-Security-Token"]
    case("session token missing", 401, no_token)
    expired = AWSRequest(method="GET", url=BASE + "/bucket/a")
    auth = S3SigV4QueryAuth(GOOD, "s3", "eu-west-1", expires=1)
    real_now = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: real_now() - datetime.timedelta(seconds=120)
    try:
        auth.add_auth(expired)
    finally:
        botocore.auth.get_current_datetime = real_now
    case("expired presigned URL", 401, expired)

    passed = sum(cases)
    print(f"{passed} passed, {len(cases) - passed} failed")
    sys.exit(0 if passed == len(cases) else 1)


if __name__ == "__main__":
    main()
