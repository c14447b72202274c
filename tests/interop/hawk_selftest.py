#!/usr/bin/env python3
"""Proves hawk_server.py with mohawk's own Sender (no signet involved).

Usage: hawk_selftest.py PORT   (the server must already listen on 127.0.0.1:PORT)
Prints one line per case and `N passed, N failed`; exits 1 on any failure.
"""

import http.client
import sys
import time

from mohawk import Sender
from mohawk.base import EmptyValue

PORT = int(sys.argv[1])
SHA256 = {"id": "signet-hawk", "key": "hawk-secret-256", "algorithm": "sha256"}
SHA1 = {"id": "signet-hawk-sha1", "key": "hawk-secret-1", "algorithm": "sha1"}
WRONG = {"id": "signet-hawk", "key": "not-the-key", "algorithm": "sha256"}


def send(method, path, header, body=b"", content_type="", host=None):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    headers = {"Authorization": header, "Host": host or f"127.0.0.1:{PORT}"}
    if content_type:
        headers["Content-Type"] = content_type
    conn.request(method, path, body=body or None, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read().decode().strip()


def sign(creds, method, path, body=b"", content_type="", hash_payload=False, **kw):
    sender = Sender(
        creds,
        f"http://127.0.0.1:{PORT}{path}",
        method,
        content=body if hash_payload else EmptyValue,
        content_type=content_type if hash_payload else EmptyValue,
        always_hash_content=hash_payload,
        **kw,
    )
    return sender.request_header


def main():
    results = []

    def case(name, expect, status_text):
        status, text = status_text
        ok = status == expect
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {status} {text}")

    case("sha256 GET", 200, send("GET", "/a?b=1&a=2", sign(SHA256, "GET", "/a?b=1&a=2")))
    case("sha1 GET", 200, send("GET", "/a", sign(SHA1, "GET", "/a")))
    body, ctype = b'{"k": "v"}', "application/json; charset=utf-8"
    h = sign(SHA256, "POST", "/hash/x", body, ctype, hash_payload=True, ext="e1", app="app1", dlg="dlg1")
    case("payload hash + ext/app/dlg", 200, send("POST", "/hash/x", h, body, ctype))
    case("replayed nonce", 401, send("POST", "/hash/x", h, body, ctype))
    h = sign(SHA1, "PUT", "/hash/y", body, ctype, hash_payload=True)
    case("sha1 payload hash", 200, send("PUT", "/hash/y", h, body, ctype))
    h = sign(SHA256, "POST", "/hash/z", body, ctype, hash_payload=True)
    case("body changed", 401, send("POST", "/hash/z", h, b'{"k": "w"}', ctype))
    case("hash required but absent", 401, send("POST", "/hash/q", sign(SHA256, "POST", "/hash/q"), body, ctype))
    case("wrong key", 401, send("GET", "/a", sign(WRONG, "GET", "/a")))
    case("wrong port in MAC", 401, send("GET", "/a", sign(SHA256, "GET", "/a"), host="127.0.0.1:1"))
    case("path changed", 401, send("GET", "/b", sign(SHA256, "GET", "/a")))
    old = sign(SHA256, "GET", "/a", _timestamp=int(time.time()) - 300)
    case("timestamp 300 s old", 401, send("GET", "/a", old))
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
