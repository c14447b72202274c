"""An HTTPS app on 127.0.0.1 that needs a bearer token and a session cookie.

GET /login sets `session` (Secure, HttpOnly, SameSite=Lax) and redirects to /app; /app answers 200
with "signed in" only when the request carries `Authorization: Bearer <token>` and a session this
server issued. Usage: cookie_app_server.py PORT CERT KEY TOKEN
"""

import http.server
import secrets
import ssl
import sys
from http.cookies import SimpleCookie

PORT, CERT, KEY, TOKEN = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ISSUED = set()


class Handler(http.server.BaseHTTPRequestHandler):
    def page(self, status, text, extra=()):
        body = f"<!doctype html><html><body><h1 id=status>{text}</h1></body></html>".encode()
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/login":
            sid = secrets.token_hex(16)
            ISSUED.add(sid)
            self.send_response(302)
            self.send_header("Set-Cookie", f"session={sid}; Path=/; Secure; HttpOnly; SameSite=Lax")
            self.send_header("Location", "/app")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/app":
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.page(401, "denied: no bearer token")
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            sid = cookie["session"].value if "session" in cookie else None
            if sid not in ISSUED:
                return self.page(401, "denied: no session")
            self.page(200, "signed in with token and session")
        elif self.path == "/favicon.ico":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.page(404, "not found")

    def log_message(self, fmt, *args):
        sys.stderr.write("app: " + (fmt % args) + "\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
