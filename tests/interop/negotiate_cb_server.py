"""An HTTPS origin requiring Negotiate with channel bindings, built on MIT Kerberos' own
acceptor through python-gssapi (Debian's python3-gssapi, so it runs under the system Python):
it passes RFC 5929 tls-server-end-point bindings of its certificate to gss_accept_sec_context
and answers 200 only when the context is complete and MIT reports it channel-bound
(GSS_C_CHANNEL_BOUND_FLAG: the initiator's bindings were there and matched).

With a fourth argument `forge-mutual`, the 200 carries a forged server token instead of the
acceptor's (flipped bytes): an initiator that checks mutual authentication must refuse it.

usage: negotiate_cb_server.py PORT CERT KEY [forge-mutual]   (the keytab: KRB5_KTNAME)"""

import base64
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gssapi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization


def end_point_bindings(cert_pem):
    cert = x509.load_pem_x509_certificate(cert_pem)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(serialization.Encoding.DER))
    return gssapi.raw.ChannelBindings(application_data=b"tls-server-end-point:" + digest.finalize())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body, token=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        if token is not None:
            self.send_header("WWW-Authenticate", "Negotiate " + base64.b64encode(token).decode() if token else "Negotiate")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Negotiate "):
            return self.answer(401, {"error": "no credentials"}, token=b"")
        credentials = gssapi.Credentials(usage="accept")
        context = gssapi.SecurityContext(creds=credentials, usage="accept", channel_bindings=BINDINGS)
        try:
            out = context.step(base64.b64decode(header[len("Negotiate "):]))
        except gssapi.exceptions.GSSError as e:
            return self.answer(401, {"error": str(e)}, token=b"")
        bound = gssapi.RequirementFlag.channel_bound in context.actual_flags
        if not context.complete or not bound:
            return self.answer(401, {"error": "not channel-bound", "complete": context.complete}, token=b"")
        if FORGE and out:
            out = out[:-8] + bytes(b ^ 0xFF for b in out[-8:])
        self.answer(200, {"user": str(context.initiator_name), "channel_bound": bound}, token=out or b"")

    def log_message(self, *args):
        sys.stderr.write((args[0] % args[1:]) + "\n")


if __name__ == "__main__":
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    FORGE = sys.argv[4:] == ["forge-mutual"]
    with open(cert, "rb") as f:
        BINDINGS = end_point_bindings(f.read())
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
