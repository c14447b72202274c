"""A resource server that accepts a request only when the bearer token is active according to
the authorization server's introspection endpoint (RFC 7662). Records every decision in a JSON
lines file. Usage: oauth2_rs_server.py PORT INTROSPECTION_URL CLIENT_ID CLIENT_SECRET LOG"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

PORT, URL, CLIENT_ID, CLIENT_SECRET, LOG = sys.argv[1:6]


class Handler(BaseHTTPRequestHandler):
    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else None
        info = {"active": False}
        if token:
            r = requests.post(URL, data={"token": token}, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
            info = r.json()
        with open(LOG, "a") as log:
            log.write(json.dumps({"path": self.path, "token": token, "active": info.get("active"),
                                  "client_id": info.get("client_id"), "scope": info.get("scope"),
                                  "sub": info.get("sub"), "body_len": len(body)}) + "\n")
        if not info.get("active"):
            self.send_response(401)
            self.send_header("www-authenticate", 'Bearer error="invalid_token"')
            self.send_header("content-length", "0")
            self.end_headers()
            return
        out = json.dumps({"client_id": info.get("client_id"), "scope": info.get("scope"),
                          "sub": info.get("sub"), "body": body.decode(errors="replace")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = handle_any
    do_POST = handle_any

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
