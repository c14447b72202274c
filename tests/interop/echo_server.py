#!/usr/bin/env python3
"""An origin that answers every request with what it received, for signet's interop tests.

Usage: echo_server.py PORT [CERT KEY]

Listens on 127.0.0.1:PORT (HTTPS with CERT and KEY). Answers 200 with JSON {method, target,
headers: [[name, value], ...] in the order received, body}; with `?sleep=SECONDS` in the target,
after that long (a slow origin).
"""

import json
import sys
import time
from urllib.parse import parse_qs, urlsplit

from verifier import VerifierHandler, read_body, serve


class Handler(VerifierHandler):
    name = "echo_server"

    protocol_version = "HTTP/1.1"

    def handle_any(self):
        body = read_body(self)
        sleep = parse_qs(urlsplit(self.path).query).get("sleep")
        if sleep:
            time.sleep(float(sleep[0]))
        seen = {
            "method": self.command,
            "target": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode(errors="replace"),
        }
        self.reply(200, json.dumps(seen))


if __name__ == "__main__":
    serve(Handler, int(sys.argv[1]), *sys.argv[2:4])
