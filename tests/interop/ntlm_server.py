#!/usr/bin/env python3
"""NTLM verifier for signet's interop tests: pyspnego's acceptor inside a small HTTP/1.1 server.

Usage: ntlm_server.py PORT WORD [CERT KEY]

WORD is what the 401 offers: `NTLM` or `Negotiate` (then a raw NTLM token is expected under
`Negotiate`). With CERT and KEY the server speaks TLS and passes RFC 5929 tls-server-end-point
channel bindings of CERT to pyspnego, which then refuses an AUTHENTICATE without matching ones
(Extended Protection). Run with NTLM_USER_FILE (lines `DOMAIN:user:password`) and
LM_COMPAT_LEVEL=5 (NTLMv2 only); pyspnego checks the NTLMv2 response and the MIC.

NTLM authenticates the connection: the NEGOTIATE and AUTHENTICATE must arrive on one TCP
connection, and later requests on it need no header. Every 200 answer is JSON:
{"user", "conn", "handshakes", "request", "len", "sha256"} where `conn` numbers the TCP
connection, `handshakes` counts completed handshakes on it and `request` the requests on it.
A request with `X-Body-SHA256` whose body hashes otherwise gets 400.
"""

import base64
import hashlib
import itertools
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import spnego
from spnego.channel_bindings import GssChannelBindings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from verifier import read_body, send

CONNECTIONS = itertools.count(1)
WORD = "NTLM"
BINDINGS = None


def end_point_bindings(cert_pem):
    cert = x509.load_pem_x509_certificate(cert_pem)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(serialization.Encoding.DER))
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest.finalize())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.conn_id = next(CONNECTIONS)
        self.ctx = None
        self.user = None
        self.handshakes = 0
        self.requests = 0

    def log_message(self, fmt, *args):
        sys.stderr.write(f"conn {getattr(self, 'conn_id', '?')}: {fmt % args}\n")


    def handle_any(self):
        body = read_body(self)
        self.requests += 1
        auth = self.headers.get("Authorization")
        if auth:
            word, _, token = auth.partition(" ")
            if word.lower() != WORD.lower() or not token:
                return send(self, 401, b"wrong scheme\n", [("WWW-Authenticate", WORD)])
            raw = base64.b64decode(token)
            if raw[8:9] == b"\x01" or self.ctx is None:
                # A NEGOTIATE starts a new handshake on this connection.
                self.ctx = spnego.server(
                    protocol="ntlm" if WORD == "NTLM" else "negotiate",
                    channel_bindings=BINDINGS,
                )
                self.user = None
            try:
                out = self.ctx.step(raw)
            except Exception as e:  # pyspnego raises its own error types for bad tokens
                self.ctx = None
                self.log_message("refused: %s", e)
                return send(self, 401, f"ntlm refused: {e}\n".encode(), [("WWW-Authenticate", WORD)])
            if not self.ctx.complete:
                value = f"{WORD} {base64.b64encode(out).decode()}"
                return send(self, 401, b"challenge\n", [("WWW-Authenticate", value)])
            self.user = self.ctx.client_principal
            self.handshakes += 1
        elif self.user is None:
            return send(self, 401, b"authenticate\n", [("WWW-Authenticate", WORD)])

        digest = hashlib.sha256(body).hexdigest()
        expected = self.headers.get("X-Body-SHA256")
        if expected and expected != digest:
            return send(self, 400, f"body hash mismatch: got {digest} ({len(body)} bytes)\n".encode())
        answer = {
            "user": self.user,
            "conn": self.conn_id,
            "handshakes": self.handshakes,
            "request": self.requests,
            "len": len(body),
            "sha256": digest,
        }
        send(self, 200, json.dumps(answer).encode(), [("Content-Type", "application/json")])

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def main():
    global WORD, BINDINGS
    port = int(sys.argv[1])
    WORD = sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if len(sys.argv) > 3:
        cert, key = sys.argv[3], sys.argv[4]
        with open(cert, "rb") as f:
            BINDINGS = end_point_bindings(f.read())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
