#!/usr/bin/env python3
"""An HTTPS origin that requires a client certificate, for signet's interop tests.

Usage: mtls_origin.py PORT CERT KEY CLIENT_CA

Listens on 127.0.0.1:PORT with Python's `ssl` (OpenSSL): the server certificate CERT/KEY, and
`CERT_REQUIRED` with CLIENT_CA as the only issuer of client certificates it accepts, so a client
without one, or with one from elsewhere, fails the handshake. Every request, any method and path,
gets 200 with JSON: {"subject": {"commonName": …}, "sha256": hex of the client certificate's DER}.
"""

import hashlib
import json
import ssl
import sys

from verifier import VerifierHandler, send, serve


class Handler(VerifierHandler):
    name = "mtls origin"

    def handle_any(self):
        der = self.connection.getpeercert(binary_form=True)
        subject = {k: v for rdn in self.connection.getpeercert()["subject"] for k, v in rdn}
        body = json.dumps({"subject": subject, "sha256": hashlib.sha256(der).hexdigest()})
        send(self, 200, body.encode(), [("Content-Type", "application/json")])


def main():
    port, cert, key, client_ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

    def context():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=client_ca)
        return ctx

    serve(Handler, port, context=context())


if __name__ == "__main__":
    main()
