#!/usr/bin/env python3
"""AWS SigV4 verifier for signet's interop tests, built on botocore's own signers.

Usage: aws_verify_server.py PORT

Listens on 127.0.0.1:PORT (plain HTTP). Every request, any method and path, must carry SigV4
either in the Authorization header or as a presigned query (X-Amz-Algorithm ... X-Amz-Signature).
The region and service are taken from the credential scope; the signature is recomputed with
botocore (SigV4Auth / S3SigV4Auth for headers, SigV4QueryAuth / S3SigV4QueryAuth for queries)
over the headers the request says it signed. On top of botocore this server checks what a real
AWS endpoint checks and moto does not:
  * x-amz-content-sha256, when sent, equals the SHA-256 of the body received (UNSIGNED-PAYLOAD
    is accepted for s3 only), and s3 requests in header form must send it;
  * X-Amz-Date is within 15 minutes of now (header form), a presigned URL has not expired and
    X-Amz-Expires is at most 604800;
  * X-Amz-Security-Token, when the key needs one, is present and equal to it.
Answers 200 `ok awsv4 <header|query> <service> <region> <payload>` or 401 `awsv4: <reason>`.

Credentials (use these in signet's config):
  access_key = "AKIDSIGNETINTEROP"  secret_key = "signet-interop-secret"
  access_key = "ASIASIGNETSESSION"  secret_key = "signet-session-secret"
                                    session_token = "signet-session-token/with+symbols=="
"""

import calendar
import hashlib
import sys
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from verifier import VerifierHandler, read_body, serve

KEYS = {
    "AKIDSIGNETINTEROP": ("signet-interop-secret", None),
    "ASIASIGNETSESSION": ("signet-session-secret", "signet-session-token/with+symbols=="),
}
S3_LIKE = {"s3", "s3-object-lambda", "s3-outposts", "s3express"}
UNSIGNED = "UNSIGNED-PAYLOAD"


class Reject(Exception):
    pass


def amz_epoch(amz_date):
    try:
        return calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except (TypeError, ValueError):
        raise Reject(f"bad X-Amz-Date {amz_date!r}")


def parse_credential(credential):
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise Reject(f"bad credential scope {credential!r}")
    key, date, region, service, _ = parts
    if key not in KEYS:
        raise Reject(f"unknown access key {key!r}")
    return key, date, region, service


def verify(method, url, headers, body):
    """Returns a success line or raises Reject."""
    split = urlsplit(url)
    query = parse_qsl(split.query, keep_blank_values=True)
    params = dict(query)
    authz = headers.get("Authorization")
    if authz is not None:
        form = "header"
        if not authz.startswith("AWS4-HMAC-SHA256 "):
            raise Reject("Authorization is not AWS4-HMAC-SHA256")
        fields = dict(
            item.strip().split("=", 1) for item in authz[len("AWS4-HMAC-SHA256 "):].split(",")
        )
        credential, signed, signature = (fields.get(k) for k in ("Credential", "SignedHeaders", "Signature"))
        amz_date = headers.get("X-Amz-Date")
        if amz_date is None:
            raise Reject("X-Amz-Date header missing")
        if abs(time.time() - amz_epoch(amz_date)) > 900:
            raise Reject("X-Amz-Date is more than 15 minutes from now")
        token = headers.get("X-Amz-Security-Token")
    elif params.get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256":
        form = "query"
        credential = params.get("X-Amz-Credential")
        signed = params.get("X-Amz-SignedHeaders")
        signature = params.get("X-Amz-Signature")
        amz_date = params.get("X-Amz-Date")
        expires = int(params.get("X-Amz-Expires", "-1"))
        if not 1 <= expires <= 604800:
            raise Reject("X-Amz-Expires out of range")
        if time.time() > amz_epoch(amz_date) + expires:
            raise Reject("presigned URL expired")
        if amz_epoch(amz_date) > time.time() + 900:
            raise Reject("X-Amz-Date is in the future")
        token = params.get("X-Amz-Security-Token")
    else:
        raise Reject("no SigV4 Authorization header or presigned query")
    if not (credential and signed and signature):
        raise Reject("incomplete SigV4 fields")
    key, date, region, service = parse_credential(credential)
    if date != amz_date[:8]:
        raise Reject("credential date differs from X-Amz-Date")
    secret, expected_token = KEYS[key]
    if expected_token is not None and token != expected_token:
        raise Reject("missing or wrong X-Amz-Security-Token")
    if expected_token is None and token is not None:
        raise Reject("unexpected X-Amz-Security-Token")
    signed_names = signed.split(";")
    if "host" not in signed_names:
        raise Reject("host is not signed")
    s3 = service in S3_LIKE

    payload = headers.get("X-Amz-Content-SHA256")
    body_hash = hashlib.sha256(body).hexdigest()
    if payload is not None:
        if payload == UNSIGNED:
            if not s3:
                raise Reject(f"UNSIGNED-PAYLOAD is not accepted by {service}")
        elif payload != body_hash:
            raise Reject("x-amz-content-sha256 does not match the body")
        if form == "header" and "x-amz-content-sha256" not in signed_names:
            raise Reject("x-amz-content-sha256 is sent but not signed")
    elif s3 and form == "header":
        raise Reject("s3 requires x-amz-content-sha256")

    sign_headers = {}
    for name, value in headers.items():
        if name.lower() in signed_names:
            if name in sign_headers:
                sign_headers[name] += "," + value
            else:
                sign_headers[name] = value
    missing = set(signed_names) - {n.lower() for n in sign_headers}
    if missing:
        raise Reject(f"signed headers not present: {sorted(missing)}")
    if form == "query":
        kept = [(k, v) for k, v in query if k != "X-Amz-Signature"]
        url = split._replace(query=urlencode(kept, quote_via=_quote)).geturl()
    request = AWSRequest(method=method, url=url, data=body, headers=sign_headers)
    request.context["timestamp"] = amz_date
    creds = Credentials(key, secret, token)
    if form == "header":
        auth = (S3SigV4Auth if s3 else SigV4Auth)(creds, service, region)
    else:
        auth = (S3SigV4QueryAuth if s3 else SigV4QueryAuth)(creds, service, region, expires=expires)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if expected != signature:
        raise Reject("signature mismatch; botocore's canonical request was:\n" + canonical)
    shown = payload or (UNSIGNED if (form == "query" and s3) else "body-sha256")
    return f"ok awsv4 {form} {service} {region} {shown}\n"


def _quote(s, safe="", encoding=None, errors=None):
    from urllib.parse import quote

    return quote(s, safe="-_.~", encoding=encoding, errors=errors)


class Handler(VerifierHandler):
    name = "aws_verify_server"

    protocol_version = "HTTP/1.1"

    def handle_any(self):
        body = read_body(self)
        target = self.path
        if not target.startswith("http"):
            target = "http://" + self.headers.get("Host", "") + target
        try:
            status, text = 200, verify(self.command, target, self.headers, body)
        except Reject as e:
            status, text = 401, f"awsv4: {e}\n"
        self.reply(status, text)


def main():
    port = int(sys.argv[1])
    serve(Handler, port)


if __name__ == "__main__":
    main()
