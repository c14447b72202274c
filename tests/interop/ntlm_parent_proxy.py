#!/usr/bin/env python3
"""A parent HTTP proxy that demands NTLM (407), verified by pyspnego's acceptor, as a corporate
proxy does. For signet's `[proxy] upstream_proxy_auth` interop tests.

Usage: ntlm_parent_proxy.py PORT

Run with NTLM_USER_FILE (lines `DOMAIN:user:password`) and LM_COMPAT_LEVEL=5. Every request
without an authenticated connection gets 407 `Proxy-Authenticate: NTLM` (and `Negotiate`); the
NEGOTIATE and AUTHENTICATE must come on one TCP connection. Once authenticated:
- absolute-form requests are forwarded to the origin (127.0.0.1 only) and the answer carries
  `X-Parent-User: <DOMAIN\\user>` and `X-Parent-Conn: <n>`;
- CONNECT host:port (127.0.0.1 only) is answered 200 and bytes are relayed both ways.
"""

import base64
import http.client
import itertools
import select
import socket
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import spnego

from verifier import read_body, send

CONNECTIONS = itertools.count(1)
HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive", "transfer-encoding"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.conn_id = next(CONNECTIONS)
        self.ctx = None
        self.user = None

    def log_message(self, fmt, *args):
        sys.stderr.write(f"conn {getattr(self, 'conn_id', '?')}: {fmt % args}\n")


    def authenticated(self):
        """Runs the NTLM handshake; True once the connection is authenticated."""
        if self.user is not None:
            return True
        auth = self.headers.get("Proxy-Authorization")
        offer = [("Proxy-Authenticate", "NTLM"), ("Proxy-Authenticate", "Negotiate")]
        if not auth:
            send(self, 407, b"proxy authentication required\n", offer)
            return False
        word, _, token = auth.partition(" ")
        if word.lower() not in ("ntlm", "negotiate") or not token:
            send(self, 407, b"NTLM only\n", offer)
            return False
        raw = base64.b64decode(token)
        if raw[8:9] == b"\x01" or self.ctx is None:
            self.ctx = spnego.server(protocol="ntlm" if word.lower() == "ntlm" else "negotiate")
        try:
            out = self.ctx.step(raw)
        except Exception as e:  # pyspnego raises its own error types for bad tokens
            self.ctx = None
            self.log_message("refused: %s", e)
            send(self, 407, f"ntlm refused: {e}\n".encode(), offer)
            return False
        if not self.ctx.complete:
            send(self, 407, b"challenge\n", [("Proxy-Authenticate", f"{word} {base64.b64encode(out).decode()}")])
            return False
        self.user = self.ctx.client_principal
        self.log_message("authenticated %s", self.user)
        return True

    def do_CONNECT(self):
        if not self.authenticated():
            return
        host, _, port = self.path.rpartition(":")
        if host.strip("[]") not in ("127.0.0.1", "localhost"):
            return send(self, 403, b"loopback only\n")
        upstream = socket.create_connection((host.strip("[]"), int(port)))
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        client = self.connection
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 60)
            if not readable:
                break
            for s in readable:
                data = s.recv(65536)
                if not data:
                    upstream.close()
                    self.close_connection = True
                    return
                (upstream if s is client else client).sendall(data)

    def forward(self):
        body = read_body(self)
        if not self.authenticated():
            return
        url = urllib.parse.urlsplit(self.path)
        if url.scheme != "http" or url.hostname not in ("127.0.0.1", "localhost"):
            return send(self, 403, b"loopback http only\n")
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn.request(self.command, path, body=body or None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP | {"content-length"}]
        headers += [("X-Parent-User", self.user), ("X-Parent-Conn", str(self.conn_id))]
        send(self, response.status, data, headers)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
