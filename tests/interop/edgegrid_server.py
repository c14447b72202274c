#!/usr/bin/env python3
"""Akamai EdgeGrid verifier for signet's interop tests, built on the official edgegrid-python.

Usage: edgegrid_server.py PORT CERT_PEM KEY_PEM [--headers-to-sign X-A,X-B] [--max-body N]

Listens on 127.0.0.1:PORT over HTTPS (so a client reaches it through signet's MITM path). No
EdgeGrid server library exists, so each request's Authorization header is recomputed with
`akamai.edgegrid.EdgeGridAuthHeaders.make_auth_header` from the same method, URL, headers and body,
using the timestamp and nonce the client sent, and compared byte for byte. Also refused: another
client/access token, a timestamp more than 300 s off, a nonce seen before.
Answers 200 `ok edgegrid <method> <path>` or 401 `edgegrid: <reason>`.

Credentials (use these in signet's config):
  client_token  = "akab-client-token-signet-interop"
  access_token  = "akab-access-token-signet-interop"
  client_secret = "c2lnbmV0LWludGVyb3AtY2xpZW50LXNlY3JldA=="
Defaults: headers_to_sign = X-Test1,X-Test2 ; max_body = 131072 (pass the same to signet).
"""

import argparse
import calendar
import hmac
import sys
import threading
import time

import requests
from akamai.edgegrid.edgegrid import EdgeGridAuthHeaders

from verifier import VerifierHandler, serve

CLIENT_TOKEN = "akab-client-token-signet-interop"
ACCESS_TOKEN = "akab-access-token-signet-interop"
CLIENT_SECRET = "c2lnbmV0LWludGVyb3AtY2xpZW50LXNlY3JldA=="
SKEW = 300


def parse_auth(value):
    """`EG1-HMAC-SHA256 k=v;k=v;...;signature=s` -> dict, or None."""
    scheme, _, rest = value.partition(" ")
    if scheme != "EG1-HMAC-SHA256":
        return None
    fields = {}
    for part in rest.split(";"):
        k, sep, v = part.partition("=")
        if sep:
            fields[k] = v
    return fields


class Handler(VerifierHandler):
    name = "edgegrid_server"

    signer = None
    seen = set()
    lock = threading.Lock()

    def verify(self, raw):
        got = self.headers.get("Authorization", "")
        fields = parse_auth(got)
        if fields is None:
            return "no EG1-HMAC-SHA256 Authorization header"
        for key in ("client_token", "access_token", "timestamp", "nonce", "signature"):
            if key not in fields:
                return f"Authorization lacks {key}"
        if fields["client_token"] != CLIENT_TOKEN or fields["access_token"] != ACCESS_TOKEN:
            return "unknown client_token or access_token"
        try:
            ts = calendar.timegm(time.strptime(fields["timestamp"], "%Y%m%dT%H:%M:%S+0000"))
        except ValueError:
            return "timestamp is not yyyyMMddTHH:mm:ss+0000"
        if abs(time.time() - ts) > SKEW:
            return f"timestamp more than {SKEW} s off"
        host = self.headers.get("Host", "")
        # The library signs the Host header when present, else the URL's netloc.
        prepared = requests.Request(
            self.command, f"https://{host}{self.path}",
            headers=dict(self.headers.items()), data=raw or None).prepare()
        prepared.body = raw
        want = self.signer.make_auth_header(prepared, fields["timestamp"], fields["nonce"])
        if not hmac.compare_digest(want.encode(), got.encode()):
            return f"signature mismatch: want {want.rsplit('signature=', 1)[-1]}"
        with self.lock:
            if fields["nonce"] in self.seen:
                return "nonce already used"
            self.seen.add(fields["nonce"])
        return None

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            problem = self.verify(raw)
        except Exception as e:  # noqa: BLE001 - any failure is the client's 401, with its reason
            problem = f"{type(e).__name__}: {e}"
        status, text = (401, f"edgegrid: {problem}") if problem else (200, f"ok edgegrid {self.command} {self.path}")
        self.reply(status, (text + "\n"))


def main():
    p = argparse.ArgumentParser(description="EdgeGrid verifier (HTTPS, 127.0.0.1)")
    p.add_argument("port", type=int)
    p.add_argument("cert")
    p.add_argument("key")
    p.add_argument("--headers-to-sign", default="X-Test1,X-Test2")
    p.add_argument("--max-body", type=int, default=131072)
    a = p.parse_args()
    names = [h for h in a.headers_to_sign.split(",") if h]
    Handler.signer = EdgeGridAuthHeaders(
        CLIENT_TOKEN, CLIENT_SECRET, ACCESS_TOKEN, headers_to_sign=names, max_body=a.max_body)
    serve(Handler, a.port, a.cert, a.key)


if __name__ == "__main__":
    main()
