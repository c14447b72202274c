#!/usr/bin/env python3
"""Verifier of chunk-signed aws-chunked uploads (moto strips chunk signatures unchecked).

Usage: aws_chunked_verify_server.py PORT

Listens on 127.0.0.1:PORT (plain HTTP). Every request must be a SigV4-signed aws-chunked upload
(`x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`). Checks, as S3 does:
  * the seed signature, recomputed by botocore's S3SigV4Auth over the headers signed;
  * every chunk signature, chained from the seed: the string to sign
    `AWS4-HMAC-SHA256-PAYLOAD\\n<date>\\n<scope>\\n<previous>\\n<sha256("")>\\n<sha256(data)>`
    is put together here from the S3 API Reference (sigv4-streaming), and signed by botocore's
    own signing-key derivation and HMAC (`SigV4Auth.signature`);
  * with -TRAILER, the trailer signature over the sorted `name:value\\n` trailer lines,
    `AWS4-HMAC-SHA256-TRAILER\\n<date>\\n<scope>\\n<previous>\\n<sha256(trailer)>`;
  * every chunk but the last two holds at least 8 KiB, the data adds up to
    x-amz-decoded-content-length, a Content-Length matches the body, nothing follows the end.
Answers 200 `ok chunks=<n> sha256=<decoded data> trailer=<lines>` or 401 `aws-chunked: <reason>`.

Credentials: the interop key (AKIDSIGNETINTEROP / signet-interop-secret), and the S3
documentation's example key, so that the AWS example itself proves this verifier.
"""

import hashlib
import re
import sys

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from verifier import VerifierHandler, read_body, serve

KEYS = {
    "AKIDSIGNETINTEROP": "signet-interop-secret",
    "AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}
EMPTY = hashlib.sha256(b"").hexdigest()
AUTHZ = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,]+),\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$")


class Reject(Exception):
    pass


def seed_check(method, url, headers, body):
    """Checks the head's signature; returns (auth, request, date, scope, seed)."""
    match = AUTHZ.match(headers.get("Authorization", ""))
    if not match:
        raise Reject("no SigV4 Authorization header")
    credential, signed, seed = match.groups()
    key, day, region, service, _ = credential.split("/")
    if key not in KEYS:
        raise Reject(f"unknown access key {key!r}")
    amz_date = headers.get("X-Amz-Date", "")
    if amz_date[:8] != day:
        raise Reject("credential date differs from X-Amz-Date")
    names = signed.split(";")
    sign_headers = {n: v for n, v in headers.items() if n.lower() in names}
    request = AWSRequest(method=method, url=url, data=body, headers=sign_headers)
    request.context["timestamp"] = amz_date
    auth = S3SigV4Auth(Credentials(key, KEYS[key]), service, region)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if expected != seed:
        raise Reject("seed signature mismatch")
    return auth, request, amz_date, f"{day}/{region}/{service}/aws4_request", seed


def read_line(body, at):
    end = body.find(b"\r\n", at)
    if end < 0:
        raise Reject("a line without CRLF")
    return body[at:end].decode(), end + 2


def verify(method, url, headers, body):
    marker = headers.get("X-Amz-Content-SHA256", "")
    if marker not in ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"):
        raise Reject(f"not a chunk-signed upload: {marker!r}")
    if "aws-chunked" not in headers.get("Content-Encoding", ""):
        raise Reject("Content-Encoding has no aws-chunked")
    if headers.get("Content-Length") is not None and int(headers["Content-Length"]) != len(body):
        raise Reject("Content-Length differs from the body received")
    auth, request, amz_date, scope, previous = seed_check(method, url, headers, body)

    def sign(string_to_sign):
        return auth.signature(string_to_sign, request)

    data, sizes, at = hashlib.sha256(), [], 0
    while True:
        line, at = read_line(body, at)
        size_hex, _, ext = line.partition(";chunk-signature=")
        size = int(size_hex, 16)
        chunk = body[at : at + size]
        if len(chunk) != size:
            raise Reject("the body ends inside a chunk")
        at += size
        expected = sign(
            "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY, hashlib.sha256(chunk).hexdigest()])
        )
        if ext != expected:
            raise Reject(f"chunk {len(sizes)} signature mismatch")
        previous = expected
        sizes.append(size)
        data.update(chunk)
        if size == 0:
            break
        if body[at : at + 2] != b"\r\n":
            raise Reject("chunk data not followed by CRLF")
        at += 2
    trailer = []
    if marker.endswith("-TRAILER"):
        signature = None
        while True:
            line, at = read_line(body, at)
            if not line:
                break
            name, _, value = line.partition(":")
            if name.lower() == "x-amz-trailer-signature":
                signature = value.strip()
            else:
                trailer.append((name.lower(), value.strip()))
        canonical = "".join(f"{n}:{v}\n" for n, v in sorted(trailer))
        expected = sign(
            "\n".join(
                ["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous, hashlib.sha256(canonical.encode()).hexdigest()]
            )
        )
        if signature != expected:
            raise Reject("trailer signature mismatch")
    elif body[at : at + 2] == b"\r\n":
        at += 2
    else:
        raise Reject("the last chunk is not followed by CRLF")
    if at != len(body):
        raise Reject("bytes follow the end of the stream")
    if any(s < 8192 for s in sizes[:-2]):
        raise Reject(f"a chunk under 8 KiB before the last: {sizes}")
    decoded = headers.get("X-Amz-Decoded-Content-Length")
    if decoded is None or int(decoded) != sum(sizes):
        raise Reject(f"x-amz-decoded-content-length {decoded} but the chunks carry {sum(sizes)}")
    lines = ",".join(f"{n}:{v}" for n, v in trailer)
    return f"ok chunks={len(sizes)} sha256={data.hexdigest()} trailer={lines}\n"


class Handler(VerifierHandler):
    name = "aws_chunked_verify_server"
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        body = read_body(self)
        target = self.path
        if not target.startswith("http"):
            target = "http://" + self.headers.get("Host", "") + target
        try:
            status, text = 200, verify(self.command, target, self.headers, body)
        except (Reject, ValueError) as e:
            status, text = 401, f"aws-chunked: {e}\n"
        self.reply(status, text)


def main():
    serve(Handler, int(sys.argv[1]))


if __name__ == "__main__":
    main()
