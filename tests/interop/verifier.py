"""Plumbing shared by the interop verifiers: a plain-text answer and a server on 127.0.0.1."""

import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def read_body(handler):
    """The request body, from Content-Length or chunked transfer coding."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        body = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return body
            body += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def send(handler, status, body, headers=()):
    """Answers with `body` (bytes) and extra `headers`, keeping the connection open."""
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class VerifierHandler(BaseHTTPRequestHandler):
    """Sends every method to `handle_any`; subclasses answer with `reply`."""

    name = "verifier"

    def handle_any(self):
        raise NotImplementedError

    def reply(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{self.name}: " + (fmt % args) + "\n")


def serve(handler, port, cert=None, key=None, context=None):
    """Serves `handler` on 127.0.0.1:`port` forever: HTTPS when `cert` and `key` are given, or
    with `context` (an `ssl.SSLContext`) as it is."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    scheme = "http"
    if cert and context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    print(f"{handler.name} listening on {scheme}://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
