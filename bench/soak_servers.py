"""The upstreams of bench/soak, in one process on 127.0.0.1 (stdlib only).

Usage: soak_servers.py PORTS_JSON CERT KEY

PORTS_JSON names the ports: `plain` (HTTP, no rule), `mitm` (HTTPS, bearer rule), `digest`
(HTTPS, Digest checked here with hashlib), `oauth` (HTTPS, bearer tokens checked against the
ones `token` issued), `token` (HTTP token endpoint, 2 s tokens, flapping). Every answer that is
not an error is JSON `{"len", "sha256"}` of the request body as received, so the client checks
its upload byte for byte. Paths, on every role:

- `/slow?ms=N`  sleeps N ms before answering;
- `/reset`      resets the connection (SO_LINGER 0) without answering;
- `/reset-mid`  sends a head promising 1 MiB and 64 KiB of it, then resets;
- `/big?n=N`    answers N bytes (for clients that stop reading).

Violations (a request that should have carried a credential signet adds and did not, or carried
a wrong, reused or expired one) are counted and returned by `GET /__stats` on the token port.
"""

import base64
import hashlib
import json
import os
import random
import re
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STATIC_TOKEN = "soak-static-token"
DIGEST_USER, DIGEST_PASSWORD, DIGEST_REALM = "mufasa", "Circle of Life", "soak"
CLIENT_ID, CLIENT_SECRET = "soak-client", "soak-secret"
TOKEN_TTL = 2  # seconds, as the brief asks: many refreshes per minute
GRACE = 1.0  # seconds a token may arrive after its expiry (time in flight through signet)
NONCE_LIFETIME = 20  # seconds; an older Digest nonce gets `stale=true`
FLAP_PERIOD = 30  # seconds: ok for 20, then 503 for 5, then hangs (5 s, then 503) for 5
HANG = 5
KEEPALIVE = 10  # seconds an origin keeps an idle connection (signet pools them for 90)

START = time.monotonic()
LOCK = threading.Lock()
TOKENS = {}  # token -> monotonic expiry
NONCES = {}  # nonce -> (monotonic issue time, set of nc seen)
STATS = {
    "token_issued": 0, "token_503": 0, "token_hang": 0, "token_bad_client": 0,
    "oauth_ok": 0, "oauth_late_within_grace": 0, "oauth_max_late_ms": 0.0,
    "digest_ok": 0, "digest_challenges": 0, "digest_stale": 0,
    "mitm_ok": 0, "plain_ok": 0,
    "violations": {},  # reason -> count
    "violation_samples": [],
}


def violation(reason, detail=""):
    with LOCK:
        STATS["violations"][reason] = STATS["violations"].get(reason, 0) + 1
        if len(STATS["violation_samples"]) < 20:
            STATS["violation_samples"].append(f"{reason}: {detail}"[:300])


def count(key, n=1):
    with LOCK:
        STATS[key] += n


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = KEEPALIVE
    role = "plain"

    def log_message(self, fmt, *args):
        pass

    def log_error(self, fmt, *args):
        pass

    # --- plumbing -------------------------------------------------------------------------

    def body_digest(self):
        """Reads the body (Content-Length or chunked) in pieces; returns (len, sha256 hex)."""
        h = hashlib.sha256()
        total = 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("body ended inside a chunk size")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                while size:
                    piece = self.rfile.read(min(size, 1 << 16))
                    if not piece:
                        raise ConnectionError("body ended inside a chunk")
                    h.update(piece)
                    total += len(piece)
                    size -= len(piece)
                self.rfile.readline(16)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                piece = self.rfile.read(min(left, 1 << 16))
                if not piece:
                    raise ConnectionError("body ended early")
                h.update(piece)
                total += len(piece)
                left -= len(piece)
        return total, h.hexdigest()

    def send(self, status, body, headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reset(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    # --- dispatch -------------------------------------------------------------------------

    def handle_any(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            length, digest = self.body_digest()
        except (ConnectionError, ValueError, OSError):
            self.close_connection = True
            return
        if url.path == "/__stats" and self.role == "token":
            with LOCK:
                return self.send(200, json.dumps(STATS), [("Content-Type", "application/json")])
        if self.role == "token":
            return self.token(length)
        if url.path == "/reset":
            return self.reset()
        if url.path == "/reset-mid":  # a head promising 1 MiB, 64 KiB of it, then a reset
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            self.wfile.write(b"r" * (64 << 10))
            self.wfile.flush()
            return self.reset()
        if not self.authorized(url):
            return
        if url.path == "/slow":
            time.sleep(int(query.get("ms", ["0"])[0]) / 1000)
        if url.path == "/big":
            n = int(query.get("n", ["0"])[0])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            block = b"b" * (1 << 16)
            try:
                while n:
                    k = min(n, len(block))
                    self.wfile.write(block[:k])
                    n -= k
            except OSError:
                self.close_connection = True
            return
        count(f"{self.role}_ok")
        self.send(200, json.dumps({"len": length, "sha256": digest}),
                  [("Content-Type", "application/json")])

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

    # --- the roles' credentials -----------------------------------------------------------

    def authorized(self, url):
        auth = self.headers.get("Authorization")
        if self.role == "plain":
            if auth or self.headers.get("Proxy-Authorization"):
                violation("plain: credential on a host without a rule", auth or "")
                self.send(400, "a credential reached a host without a rule\n")
                return False
            return True
        if self.role == "mitm":
            if auth != f"Bearer {STATIC_TOKEN}":
                violation("mitm: missing or wrong bearer", repr(auth))
                self.send(401, "bearer missing\n")
                return False
            return True
        if self.role == "oauth":
            return self.check_oauth(auth)
        if self.role == "digest":
            return self.check_digest(auth)
        raise AssertionError(self.role)

    def check_oauth(self, auth):
        now = time.monotonic()
        if not auth or not auth.startswith("Bearer "):
            violation("oauth: request without a bearer token", repr(auth))
            self.send(401, "no token\n", [("WWW-Authenticate", 'Bearer error="invalid_token"')])
            return False
        token = auth[len("Bearer "):]
        with LOCK:
            expiry = TOKENS.get(token)
        if expiry is None:
            violation("oauth: token never issued", token[:40])
            self.send(401, "unknown token\n", [("WWW-Authenticate", 'Bearer error="invalid_token"')])
            return False
        late = now - expiry
        if late > GRACE:
            violation("oauth: expired token", f"{late * 1000:.0f} ms after expiry")
            self.send(401, "expired\n", [("WWW-Authenticate", 'Bearer error="invalid_token"')])
            return False
        if late > 0:
            with LOCK:
                STATS["oauth_late_within_grace"] += 1
                STATS["oauth_max_late_ms"] = max(STATS["oauth_max_late_ms"], late * 1000)
        return True

    def digest_challenge(self, stale=False):
        nonce = base64.b64encode(os.urandom(18)).decode()
        with LOCK:
            NONCES[nonce] = (time.monotonic(), set())
            if len(NONCES) > 10000:  # bounded: drop the oldest
                for old in sorted(NONCES, key=lambda n: NONCES[n][0])[:5000]:
                    del NONCES[old]
        value = (f'Digest realm="{DIGEST_REALM}", qop="auth", algorithm=MD5, '
                 f'nonce="{nonce}", opaque="soak-opaque"' + (", stale=true" if stale else ""))
        self.send(401, "digest required\n", [("WWW-Authenticate", value)])

    def check_digest(self, auth):
        if not auth or not auth.lower().startswith("digest "):
            count("digest_challenges")
            self.digest_challenge()
            return False
        p = {k.lower(): (q if q else u)
             for k, q, u in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', auth[7:])}
        nonce, nc = p.get("nonce", ""), p.get("nc", "")
        if p.get("username") != DIGEST_USER or p.get("realm") != DIGEST_REALM:
            violation("digest: wrong user or realm", auth[:200])
            self.digest_challenge()
            return False
        if p.get("uri") != self.path:
            violation("digest: uri is not the request's", f"{p.get('uri')} != {self.path}")
            self.digest_challenge()
            return False
        ha1 = hashlib.md5(f"{DIGEST_USER}:{DIGEST_REALM}:{DIGEST_PASSWORD}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{self.command}:{p['uri']}".encode()).hexdigest()
        want = hashlib.md5(
            f"{ha1}:{nonce}:{nc}:{p.get('cnonce', '')}:{p.get('qop', '')}:{ha2}".encode()).hexdigest()
        if p.get("qop") != "auth" or p.get("response") != want:
            violation("digest: wrong response", auth[:200])
            self.digest_challenge()
            return False
        with LOCK:
            entry = NONCES.get(nonce)
            if entry is None or time.monotonic() - entry[0] > NONCE_LIFETIME:
                stale = True
            else:
                stale = False
                if nc in entry[1]:
                    reused = True
                else:
                    reused = False
                    entry[1].add(nc)
        if stale:
            count("digest_stale")
            self.digest_challenge(stale=True)
            return False
        if reused:
            violation("digest: nonce count reused", f"nc={nc}")
            self.digest_challenge()
            return False
        return True

    # --- the token endpoint ---------------------------------------------------------------

    def token(self, length):
        phase = (time.monotonic() - START) % FLAP_PERIOD
        if phase >= FLAP_PERIOD - 5:
            count("token_hang")
            time.sleep(HANG)
            return self.send(503, json.dumps({"error": "temporarily_unavailable"}),
                             [("Content-Type", "application/json")])
        if phase >= FLAP_PERIOD - 10 or random.random() < 0.03:
            count("token_503")
            return self.send(503, json.dumps({"error": "temporarily_unavailable",
                                              "error_description": "flapping on purpose"}),
                             [("Content-Type", "application/json")])
        want = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if self.headers.get("Authorization") != want:
            count("token_bad_client")
            return self.send(401, json.dumps({"error": "invalid_client"}),
                             [("Content-Type", "application/json")])
        token = "tok-" + base64.urlsafe_b64encode(os.urandom(18)).decode()
        with LOCK:
            now = time.monotonic()
            TOKENS[token] = now + TOKEN_TTL
            for t in [t for t, e in TOKENS.items() if e < now - 60]:
                del TOKENS[t]
            STATS["token_issued"] += 1
        self.send(200, json.dumps({"access_token": token, "token_type": "Bearer",
                                   "expires_in": TOKEN_TTL}),
                  [("Content-Type", "application/json"), ("Cache-Control", "no-store")])


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, port, role, tls=None):
        self.tls = tls
        handler = type(f"{role}Handler", (Handler,), {"role": role})
        super().__init__(("127.0.0.1", port), handler)

    def finish_request(self, request, client_address):
        if self.tls is not None:  # the handshake runs in the connection's own thread
            request.settimeout(KEEPALIVE)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # clients that abort are part of the run


def main():
    ports = json.loads(sys.argv[1])
    cert, key = sys.argv[2], sys.argv[3]
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    tls.set_alpn_protocols(["http/1.1"])
    servers = [
        Server(ports["plain"], "plain"),
        Server(ports["mitm"], "mitm", tls),
        Server(ports["digest"], "digest", tls),
        Server(ports["oauth"], "oauth", tls),
        Server(ports["token"], "token"),
    ]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("soak servers ready", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
