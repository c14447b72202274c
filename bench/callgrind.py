"""The client for bench/callgrind: N requests through a proxy on ONE keep-alive connection, so
that the difference between two runs with different N is the cost of the requests alone.

    callgrind.py plain   PROXY_PORT HTTP_PORT N
    callgrind.py mitm    PROXY_PORT HTTPS_PORT N SIGNET_CA
    callgrind.py reverse PORT - N
    callgrind.py tls     PORT - N ORIGIN_CA

plain: absolute-form GET http://127.0.0.1:HTTP_PORT/ to the proxy. mitm: CONNECT to the
origin's bearer-ruled HTTPS port, TLS with signet's leaf, GET /auth/bench (the origin answers
401 unless signet added the bearer). reverse: GET / to a reverse proxy or relay (signet's
gateway, HAProxy) in front of the origin's HTTP port. tls: TLS to PORT with the origin's own
leaf (HAProxy terminating TLS), GET /auth/bench, which must arrive with a bearer the proxy
added. Any answer but 200 fails the run."""

import http.client
import socket
import ssl
import sys

TIMEOUT = 120  # seconds per socket operation; signet runs under valgrind, tens of times slower


def main():
    mode, proxy, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[4])
    port = None if sys.argv[3] == "-" else int(sys.argv[3])  # the origin port behind a proxy
    if mode == "plain":
        conn = http.client.HTTPConnection("127.0.0.1", proxy, timeout=TIMEOUT)
        url = f"http://127.0.0.1:{port}/"
    elif mode == "mitm":
        ctx = ssl.create_default_context(cafile=sys.argv[5])
        ctx.set_alpn_protocols(["http/1.1"])  # as http.client's own context does
        conn = http.client.HTTPSConnection("127.0.0.1", proxy, timeout=TIMEOUT, context=ctx)
        conn.set_tunnel("127.0.0.1", port)
        url = "/auth/bench"
    elif mode == "reverse":
        conn = http.client.HTTPConnection("127.0.0.1", proxy, timeout=TIMEOUT)
        url = "/"
    elif mode == "tls":
        ctx = ssl.create_default_context(cafile=sys.argv[5])
        ctx.set_alpn_protocols(["http/1.1"])
        conn = http.client.HTTPSConnection("127.0.0.1", proxy, timeout=TIMEOUT, context=ctx)
        url = "/auth/bench"
    else:
        sys.exit(f"unknown mode {mode}")
    for i in range(n):
        conn.request("GET", url)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or resp.will_close:
            sys.exit(f"request {i + 1}: {resp.status} {body[:200]!r} (close: {resp.will_close})")
    # End the connection and wait until signet has closed its side too, so that signet is idle
    # (and has done the same teardown in every run) when it is stopped.
    sock = conn.sock
    if isinstance(sock, ssl.SSLSocket):
        sock = sock.unwrap()  # close_notify both ways
    sock.shutdown(socket.SHUT_WR)
    if sock.recv(1) != b"":
        sys.exit("signet sent bytes after the last answer")
    sock.close()


if __name__ == "__main__":
    main()
