#!/usr/bin/env python3
"""Hawk verifier for signet's interop tests, built on mohawk's Receiver.

Usage: hawk_server.py PORT

Listens on 127.0.0.1:PORT (plain HTTP). Every request, any method and path, must carry
`Authorization: Hawk ...`; mohawk checks the MAC over method, path and query, host, port, the
payload hash, ext, app and dlg, refuses a nonce seen before and a timestamp more than 60 s off.
Under /hash/... a payload hash is required (and checked against the body and Content-Type);
elsewhere a request without one is accepted, but a hash that is sent is still checked.
The port in the MAC is the one in the Host header (80 when absent), i.e. the real destination.
Answers 200 `ok hawk id=<id> ext=<ext> app=<app> dlg=<dlg> hash=<yes|no>` or 401 `hawk: <reason>`.

Credentials (use these in signet's config):
  auth_id = "signet-hawk"       auth_key = "hawk-secret-256"  algorithm = "sha256"
  auth_id = "signet-hawk-sha1"  auth_key = "hawk-secret-1"    algorithm = "sha1"
"""

import sys
import threading

from mohawk import Receiver
from mohawk.exc import HawkFail

from verifier import VerifierHandler, read_body, serve

CREDENTIALS = {
    "signet-hawk": {"id": "signet-hawk", "key": "hawk-secret-256", "algorithm": "sha256"},
    "signet-hawk-sha1": {"id": "signet-hawk-sha1", "key": "hawk-secret-1", "algorithm": "sha1"},
}
SEEN = set()
LOCK = threading.Lock()


def lookup(sender_id):
    if sender_id not in CREDENTIALS:
        raise LookupError(f"unknown Hawk id {sender_id!r}")
    return CREDENTIALS[sender_id]


def seen_nonce(sender_id, nonce, timestamp):
    with LOCK:
        key = (sender_id, nonce, timestamp)
        if key in SEEN:
            return True
        SEEN.add(key)
        return False


class Handler(VerifierHandler):
    name = "hawk_server"

    protocol_version = "HTTP/1.1"

    def handle_any(self):
        body = read_body(self)
        path = self.path
        if path.startswith("http://") or path.startswith("https://"):
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        url = "http://" + self.headers.get("Host", "") + path
        header = self.headers.get("Authorization", "")
        try:
            if not header.startswith("Hawk "):
                raise HawkFail("no Hawk Authorization header")
            receiver = Receiver(
                lookup,
                header,
                url,
                self.command,
                content=body,
                content_type=self.headers.get("Content-Type", ""),
                seen_nonce=seen_nonce,
                accept_untrusted_content=not path.startswith("/hash/"),
                timestamp_skew_in_seconds=60,
            )
            p = receiver.parsed_header
            status = 200
            text = "ok hawk id={} ext={} app={} dlg={} hash={}\n".format(
                p.get("id"), p.get("ext"), p.get("app"), p.get("dlg"), "yes" if p.get("hash") else "no"
            )
        except (HawkFail, LookupError) as e:
            status, text = 401, f"hawk: {type(e).__name__}: {e}\n"
        self.reply(status, text)


def main():
    port = int(sys.argv[1])
    serve(Handler, port)


if __name__ == "__main__":
    main()
