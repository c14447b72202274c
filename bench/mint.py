"""Times a CONNECT + TLS handshake through signet to a ruled host it has not seen (a leaf
certificate is minted) and again to the same host (the leaf is cached).

Usage: mint.py PROXY_HOST:PORT CA_PEM DOMAIN COUNT
Each name is NAME.DOMAIN, fresh per run, so nothing is cached beforehand; no upstream is dialled
(an intercepted tunnel connects upstream only when a request arrives). Prints one JSON object
with per-handshake seconds: {"first": [...], "cached": [...]}.
"""

import json
import secrets
import socket
import ssl
import sys
import time


def handshake(proxy, ca, name):
    start = time.perf_counter()
    sock = socket.create_connection(proxy)
    try:
        sock.sendall(f"CONNECT {name}:443 HTTP/1.1\r\nHost: {name}:443\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("proxy closed the connection")
            head += chunk
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        context = ssl.create_default_context(cafile=ca)
        with context.wrap_socket(sock, server_hostname=name):
            pass
        return time.perf_counter() - start
    finally:
        sock.close()


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    proxy = (host, int(port))
    ca, domain, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
    run = secrets.token_hex(4)
    first, cached = [], []
    for i in range(count):
        name = f"h{i}-{run}.{domain}"
        first.append(handshake(proxy, ca, name))
        cached.append(handshake(proxy, ca, name))
    print(json.dumps({"first": first, "cached": cached}))


if __name__ == "__main__":
    main()
